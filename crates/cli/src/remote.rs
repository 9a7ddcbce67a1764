//! The `aws` feature: `investigate s3://...`, `query --run`, `preflight
//! --live` and `ebs --live`, over the
//! `start-doctor-remote` crate, with progress on stderr when it is a
//! terminal. What comes back is [`Files`] like the local files'.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use start_doctor_core::selection::Selection;
use start_doctor_remote::s3::{self, S3Location};
use start_doctor_remote::{athena, lake, s3_client, sdk_config, QueryOutcome, RemoteError, Wait};
use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::query::Source;

use crate::input::{FileContent, FileError, Files};
use crate::investigate::{read_file, RunQuery};

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

/// Reads every `s3://` location for the start doctor.
pub fn read_s3(uris: &[&Path], selection: &Selection) -> Files<EvidenceSet> {
    let started = Instant::now();
    let mut read = Files::default();
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
            let archive = s3::read_archive(
                &client,
                &location,
                (selection, "CloudTrail"),
                |bytes: &[u8]| read_file(bytes, false),
                |p| {
                    bar.set_length(p.listed as u64);
                    bar.set_position(p.done as u64);
                    bar.set_message(indicatif::HumanBytes(p.bytes).to_string());
                },
            )
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
                    Ok(Some(content)) => read.push(&object.uri, object.bytes, content),
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
pub fn run_query(run: &RunQuery) -> Files<EvidenceSet> {
    let started = Instant::now();
    let mut read = Files::default();
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
        Ok(outcome) => read.push(
            &format!("{name}: query {}", outcome.id),
            0,
            FileContent {
                content: outcome.document.evidence.into_iter().collect(),
                problems: outcome
                    .document
                    .problems
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            },
        ),
        Err(reason) => read.errors.push(FileError {
            path: name.into(),
            reason,
        }),
    }
    read.stats.elapsed = started.elapsed();
    read
}

/// `preflight --live`: gathers the preflight documents of the caller's
/// account (or of each `--account` through `--role-name`) in the Region
/// given (or the caller's), saves them under `--save`, and returns what
/// they hold. A call that fails is a warning; an account that cannot be
/// read at all is an error naming it.
pub fn preflight_live(args: &crate::preflight::PreflightArgs) -> Files<EvidenceSet> {
    use start_doctor_aws::live::{AwsLiveChecks, CrossAccount};
    use start_doctor_aws::preflight::gather;

    // The calls that fail (a missing permission, a service that does not
    // answer) are warnings on stderr; the check goes on without them.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("start_doctor_aws=warn"))
        .without_time()
        .with_target(false)
        .try_init();
    let started = Instant::now();
    let mut read = Files::default();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(reason) => {
            read.errors.push(FileError {
                path: "live".into(),
                reason,
            });
            return read;
        }
    };
    runtime.block_on(async {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &args.region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let sdk = loader.load().await;
        let mut live = AwsLiveChecks::new(&sdk);
        let accounts: Vec<Option<&str>> = if args.accounts.is_empty() {
            vec![None]
        } else {
            args.accounts.iter().map(|a| Some(a.as_str())).collect()
        };
        if let Some(role_name) = &args.role_name {
            live = live.with_cross_account(CrossAccount {
                base: sdk.clone(),
                // Every --account is reached through the role.
                home_account: String::new(),
                role_name: role_name.clone(),
            });
        }
        let now = chrono::Utc::now();
        for account in accounts {
            let name = account.unwrap_or("live");
            let clients = live.clients_for(account, None).await;
            let documents = gather(&live, &clients, now, args.lookback_days).await;
            if let Some(dir) = &args.save {
                let dir = match account {
                    Some(a) => dir.join(a),
                    None => dir.clone(),
                };
                if let Err(e) = save(&dir, &documents.files) {
                    read.errors.push(FileError {
                        path: dir,
                        reason: format!("saving what was read: {e}"),
                    });
                }
            }
            let (evidence, problems) = documents.evidence();
            read.push(
                name,
                0,
                FileContent {
                    content: evidence,
                    problems,
                },
            );
        }
    });
    read.stats.elapsed = started.elapsed();
    read
}

/// Writes each document to `dir/<name>`, pretty-printed.
fn save(dir: &Path, files: &[(String, serde_json::Value)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, document) in files {
        let text = serde_json::to_string_pretty(document).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(name), text + "\n")?;
    }
    Ok(())
}

/// `ebs --live`: the describe calls and GetMetricData of
/// [`start_doctor_aws::ebs::gather::gather`] with the caller's credentials and
/// Region, each gathered file written under `save` when given and read by
/// `read` (the doctor's own file reader). An optional call that failed
/// (volume status, fast snapshot restores, one metrics request) is an
/// error naming it; the rest is still read.
pub fn ebs_live<T>(
    gather: &start_doctor_aws::ebs::gather::Gather,
    save: Option<&Path>,
    read: impl Fn(&[u8], bool) -> Result<Option<FileContent<T>>, String>,
) -> Files<T> {
    let started = Instant::now();
    let mut files = Files::default();
    let live = |reason: String| FileError {
        path: "--live".into(),
        reason,
    };
    let gathered = runtime().and_then(|runtime| {
        runtime.block_on(async {
            let config = sdk_config().await;
            let ec2 = start_doctor_aws::ebs::gather::ec2_client(&config);
            let cloudwatch = start_doctor_aws::ebs::gather::cloudwatch_client(&config);
            start_doctor_aws::ebs::gather::gather(&ec2, &cloudwatch, gather)
                .await
                .map_err(|e| e.to_string())
        })
    });
    let gathered = match gathered {
        Ok(g) => g,
        Err(reason) => {
            files.errors.push(live(reason));
            return files;
        }
    };
    for note in &gathered.notes {
        eprintln!("start-doctor: note: {note}");
    }
    files.errors.extend(gathered.errors.into_iter().map(live));
    if let Some(dir) = save {
        if let Err(e) = std::fs::create_dir_all(dir) {
            files.errors.push(FileError {
                path: dir.to_path_buf(),
                reason: format!("saving what was read: {e}"),
            });
        }
    }
    for file in gathered.files {
        let name = match save {
            Some(dir) => {
                let path = dir.join(&file.name);
                if let Err(e) = std::fs::write(&path, &file.bytes) {
                    files.errors.push(FileError {
                        path: path.clone(),
                        reason: format!("saving what was read: {e}"),
                    });
                }
                path.display().to_string()
            }
            None => format!("--live/{}", file.name),
        };
        match read(&file.bytes, true) {
            Ok(Some(content)) => files.push(&name, file.bytes.len() as u64, content),
            Ok(None) => {}
            Err(reason) => files.errors.push(FileError {
                path: name.into(),
                reason,
            }),
        }
    }
    files.stats.elapsed = started.elapsed();
    files
}
