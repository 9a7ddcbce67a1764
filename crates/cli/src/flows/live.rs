//! `start-doctor flows --live` (the `aws` feature): the configuration read
//! with `Describe*` calls, the records from a CloudWatch Logs group or an
//! S3 prefix, held as the documents `--save` writes (and `flows` reads
//! back), then read like files. `query --doctor flows --run`: the Athena
//! query run, its rows read as records.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use start_doctor_aws::flows_config::describe;
use start_doctor_flows::read::results::read_rows;
use start_doctor_flows::traffic::Window;
use start_doctor_remote::athena::{self, AthenaQuery};
use start_doctor_remote::flows::{archive_objects, log_records, pretty};
use start_doctor_remote::s3::S3Location;
use start_doctor_remote::{ec2_client, logs_client, s3_client, sdk_config, Wait};

use super::input::{read_with, Read};
use super::LiveArgs;
use crate::input::FileError;

/// How far back `--log-group` reads without `--since`.
const DEFAULT_LOOKBACK_SECONDS: i64 = 3600;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A log group as a file name: letters, digits, `-`, `_`, `.` kept.
fn file_name(group: &str) -> String {
    let name: String = group
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.json", if name.is_empty() { "log-group" } else { &name })
}

fn error(path: &str, reason: impl Into<String>) -> FileError {
    FileError {
        path: PathBuf::from(path),
        reason: reason.into(),
    }
}

/// Reads the configuration and records from the account (and `paths`).
pub fn read(args: &LiveArgs, paths: &[PathBuf], window: Window) -> Read {
    let mut window = window;
    let mut warnings = Vec::new();
    if args.log_group.is_some() && window.since.is_none() {
        let now = chrono::Utc::now().timestamp();
        window.since = Some(now - DEFAULT_LOOKBACK_SECONDS);
        warnings.push("--log-group without --since: reading the last hour".to_owned());
    }
    let mut documents: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut errors: Vec<FileError> = Vec::new();
    match runtime() {
        Err(reason) => errors.push(error("aws", reason)),
        Ok(runtime) => runtime.block_on(async {
            let config = sdk_config().await;
            let bar = spinner("reading the network configuration");
            let described = describe(&ec2_client(&config), &args.vpc_ids).await;
            bar.finish_and_clear();
            for e in described.errors {
                if e.is_optional() {
                    warnings.push(format!("{e}; left out"));
                } else {
                    errors.push(error("aws ec2", e.to_string()));
                }
            }
            for output in described.outputs {
                documents.push((
                    PathBuf::from("config").join(format!("{}.json", output.name)),
                    pretty(&output.output),
                ));
            }
            if let Some(group) = &args.log_group {
                let bar = spinner(&format!("reading {group}"));
                match log_records(&logs_client(&config), group, &window).await {
                    Ok(records) => {
                        if records.addresses_left_out > 0 {
                            warnings.push(format!(
                                "{group}: the rejects name more addresses than are looked up; the accepted records of {} addresses were not read",
                                records.addresses_left_out
                            ));
                        }
                        documents.push((PathBuf::from("logs").join(file_name(group)), pretty(&records.document)));
                    }
                    Err(e) => errors.push(error(group, e.to_string())),
                }
                bar.finish_and_clear();
            }
            if let Some(uri) = &args.s3 {
                let bar = spinner(&format!("reading {uri}"));
                match S3Location::parse(uri) {
                    Err(e) => errors.push(error(uri, e.to_string())),
                    Ok(location) => match archive_objects(&s3_client(&config), &location, &window).await {
                        Err(e) => errors.push(error(uri, e.to_string())),
                        Ok((objects, _skipped)) => {
                            for object in objects {
                                match object.body {
                                    Ok(bytes) => documents.push((PathBuf::from(&object.key), bytes)),
                                    Err(reason) => errors.push(error(&location.uri(&object.key), reason)),
                                }
                            }
                        }
                    },
                }
                bar.finish_and_clear();
            }
        }),
    }
    if let Some(dir) = &args.save {
        for (name, bytes) in &documents {
            if let Err(e) = save(dir, name, bytes) {
                errors.push(FileError {
                    path: dir.join(name),
                    reason: e.to_string(),
                });
            }
        }
    }
    let mut read = read_with(paths, documents, window);
    read.errors.extend(errors);
    read.warnings.extend(warnings);
    read
}

fn save(dir: &Path, name: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Keys come from S3 and names from here: nothing may climb out of DIR.
    let safe: PathBuf = name
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let path = dir.join(safe);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, bytes)
}

/// Runs the flow doctor's Athena query and reads its rows into `read`.
pub fn run_athena(sql: &str, workgroup: &str, output_location: Option<&str>, read: &mut Read) {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(reason) => return read.errors.push(error("athena", reason)),
    };
    let query = AthenaQuery {
        sql: sql.to_owned(),
        workgroup: workgroup.to_owned(),
        output_location: output_location.map(str::to_owned),
    };
    let bar = spinner("running the Athena query");
    let result = runtime.block_on(async {
        let config = sdk_config().await;
        let client = aws_sdk_athena::Client::new(&config);
        athena::run_rows(&client, &query, Wait::default(), |state| {
            bar.set_message(state.to_owned())
        })
        .await
    });
    bar.finish_and_clear();
    match result {
        Ok((id, rows)) => {
            let (records, problems) = read_rows(rows, &mut read.traffic);
            read.stats.records += records;
            read.warnings.extend(
                problems
                    .lines()
                    .into_iter()
                    .map(|p| format!("athena query {id}: {p}; skipped")),
            );
        }
        Err(e) => read.errors.push(error("athena", e.to_string())),
    }
}
