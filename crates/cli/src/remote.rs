//! The `aws` feature: `investigate s3://...`, `query --run` and `ebs --live`, over the
//! `start-doctor-remote` crate, with progress on stderr when it is a
//! terminal. What comes back is an [`input::Read`] like the local files'.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use start_doctor_core::query::Source;
use start_doctor_core::selection::Selection;
use start_doctor_remote::s3::{self, S3Location};
use start_doctor_remote::{athena, lake, s3_client, sdk_config, QueryOutcome, RemoteError, Wait};

use crate::input::{FileError, Read};
use crate::RunQuery;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))
}

fn bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} objects, {msg} ({per_sec}, eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

/// Reads every `s3://` location.
pub fn read_s3(uris: &[&Path], selection: &Selection) -> Read {
    let started = Instant::now();
    let mut read = Read::default();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(reason) => {
            read.errors.extend(uris.iter().map(|uri| FileError {
                path: uri.to_path_buf(),
                reason: reason.clone(),
            }));
            return read;
        }
    };
    runtime.block_on(async {
        let client = s3_client(&sdk_config().await);
        for uri in uris {
            let error = |reason: String| FileError {
                path: uri.to_path_buf(),
                reason,
            };
            let location = match S3Location::parse(&uri.to_string_lossy()) {
                Ok(l) => l,
                Err(e) => {
                    read.errors.push(error(e.to_string()));
                    continue;
                }
            };
            let bar = bar();
            let archive = s3::read_archive(&client, &location, selection, |p| {
                bar.set_length(p.listed as u64);
                bar.set_position(p.done as u64);
                bar.set_message(indicatif::HumanBytes(p.bytes).to_string());
            })
            .await;
            bar.finish_and_clear();
            let archive = match archive {
                Ok(a) => a,
                Err(e) => {
                    read.errors.push(error(e.to_string()));
                    continue;
                }
            };
            read.stats.skipped += archive.skipped;
            for object in archive.objects {
                match object.outcome {
                    Ok(Some(document)) => {
                        read.stats.files += 1;
                        read.stats.bytes += object.bytes;
                        read.warnings.extend(
                            document
                                .problems
                                .iter()
                                .map(|p| format!("{}: {p}; skipped", object.uri)),
                        );
                        read.evidence.extend(document.evidence);
                    }
                    Ok(None) => {}
                    Err(reason) => read.errors.push(FileError {
                        path: object.uri.into(),
                        reason,
                    }),
                }
            }
        }
    });
    read.stats.elapsed = started.elapsed();
    read
}

/// Runs the evidence query on its engine, progress on stderr.
pub fn run_query(run: &RunQuery) -> Read {
    let started = Instant::now();
    let mut read = Read::default();
    let name = match &run.source {
        Source::Athena { table, .. } => format!("athena:{table}"),
        Source::Lake { event_data_store } => format!("lake:{event_data_store}"),
    };
    let outcome: Result<QueryOutcome, String> = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let config = sdk_config().await;
            let terminal = std::io::stderr().is_terminal();
            let progress = |state: &str| {
                if terminal {
                    eprint!("\r\x1b[2K{state}");
                }
            };
            let result = match &run.source {
                Source::Athena { .. } => {
                    let query = athena::AthenaQuery {
                        sql: run.sql.clone(),
                        workgroup: run.workgroup.clone(),
                        output_location: run.output_location.clone(),
                    };
                    let client = aws_sdk_athena::Client::new(&config);
                    athena::run(&client, &query, Wait::default(), progress).await
                }
                Source::Lake { .. } => {
                    let client = aws_sdk_cloudtrail::Client::new(&config);
                    lake::run(&client, &run.sql, Wait::default(), progress).await
                }
            };
            if terminal {
                eprint!("\r\x1b[2K");
            }
            result.map_err(|e: RemoteError| e.to_string())
        })
    });
    match outcome {
        Ok(outcome) => {
            read.stats.files = 1;
            read.warnings.extend(
                outcome
                    .document
                    .problems
                    .iter()
                    .map(|p| format!("{name}: query {}: {p}; skipped", outcome.id)),
            );
            read.evidence.extend(outcome.document.evidence);
        }
        Err(reason) => read.errors.push(FileError {
            path: name.into(),
            reason,
        }),
    }
    read.stats.elapsed = started.elapsed();
    read
}

/// `start-doctor ebs --live`: the describe calls and GetMetricData of
/// [`start_doctor_remote::ebs::gather`], with the caller's credentials and
/// Region.
pub fn ebs_live(
    gather: &start_doctor_remote::ebs::Gather,
) -> Result<start_doctor_remote::ebs::Gathered, String> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let config = sdk_config().await;
        let ec2 = start_doctor_remote::ebs::ec2_client(&config);
        let cloudwatch = start_doctor_remote::ebs::cloudwatch_client(&config);
        start_doctor_remote::ebs::gather(&ec2, &cloudwatch, gather)
            .await
            .map_err(|e| e.to_string())
    })
}
