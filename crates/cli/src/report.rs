//! What every subcommand ends with: the inputs that could not be read (one
//! stderr line each, naming the file), the skipped parts as warnings, the
//! answer on stdout, and the exit status (as ripgrep does it): 0 when
//! every input was read, 1 when one could not be (the rest is still
//! answered), 2 for a bad command line.

use std::io::Write;
use std::process::ExitCode;

use crate::input::Files;

/// How many inputs could not be read: decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Unreadable(pub usize);

/// Prints the warnings and errors of what was read on stderr (with
/// `stats`, how much was read), and returns how many inputs could not be
/// read.
pub fn inputs<T>(files: &Files<T>, stats: bool) -> Unreadable {
    let mut stderr = std::io::stderr().lock();
    for warning in &files.warnings {
        let _ = writeln!(stderr, "start-doctor: warning: {warning}");
    }
    // Like ripgrep: a file that cannot be read is reported and the run goes
    // on with the rest; only the exit status remembers it.
    for error in &files.errors {
        let _ = writeln!(stderr, "start-doctor: error: {error}");
    }
    if stats {
        let _ = writeln!(stderr, "start-doctor: {}", files.stats);
    }
    Unreadable(files.errors.len())
}

/// Prints `out` on stdout; the exit status: 1 when an input could not be
/// read or stdout failed, 0 otherwise.
pub fn answer(out: &str, unreadable: Unreadable) -> ExitCode {
    match print(out) {
        code if code != ExitCode::SUCCESS => code,
        _ if unreadable.0 == 0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// A bad command line: one line on stderr, exit 2.
pub fn usage_error(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "start-doctor: error: {message}");
    ExitCode::from(2)
}

/// Prints `text` on stdout; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "start-doctor: error: writing output: {e}"
            );
            ExitCode::FAILURE
        }
    }
}
