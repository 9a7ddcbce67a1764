//! Running the `start-doctor` binary as a process and reading what it
//! answered, for every subcommand's tests.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Runs `start-doctor <subcommand> <paths> [extra args]`.
pub fn run<P: AsRef<Path>>(subcommand: &str, paths: &[P], extra: &[&str]) -> Output {
    let mut cmd = Command::cargo_bin("start-doctor").expect("the start-doctor binary is built");
    cmd.arg(subcommand);
    for path in paths {
        cmd.arg(path.as_ref());
    }
    cmd.args(extra);
    cmd.output().expect("start-doctor runs")
}

/// What the process wrote on stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the process wrote on stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that the process neither panicked nor was killed by a signal;
/// `what` names the case in the failure.
pub fn assert_no_panic(what: &str, output: &Output) {
    let err = stderr(output);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: start-doctor panicked:\n{err}"
    );
    assert!(
        output.status.code().is_some(),
        "{what}: start-doctor was killed by a signal ({:?}); stderr:\n{err}",
        output.status
    );
}

/// One test per scenario folder, each calling the `check_scenario` of the
/// module it is written in, and `SCENARIOS`, every folder with a test (so a
/// module can check that no folder of its doctor goes untested).
macro_rules! scenarios {
    ($($test:ident => $folder:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_scenario($folder);
            }
        )*
        /// Every scenario folder with a test above.
        const SCENARIOS: &[&str] = &[$($folder),*];
    };
}
