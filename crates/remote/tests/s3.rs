//! `investigate s3://...` against the moto server: the bundled archive put
//! into a bucket (with corrupt objects planted outside the selection) and
//! read in place gives the same diagnosis as the local files, and the
//! selection keeps the listing away from the planted objects.

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use chrono::{DateTime, Utc};
use start_doctor_core::ids::{Account, Region as AwsRegion};
use start_doctor_core::selection::Selection;
use start_doctor_remote::s3::{read_archive, ArchiveRead, S3Location};
use start_doctor_start::read::{looks_readable, read_document};
use start_doctor_start::Document;
use start_doctor_testkit::fixtures::{expected, repo};

use super::pinned_of;

const ARCHIVE_DAY: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20";
const TRAP_OLD_DAY: &str = "trail/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/18/111122223333_CloudTrail_eu-west-1_20261118T1200Z_trapTRAPtrapTRAP.json.gz";
const TRAP_OTHER_ACCOUNT: &str = "trail/AWSLogs/444455556666/CloudTrail/eu-west-1/2026/11/20/444455556666_CloudTrail_eu-west-1_20261120T0700Z_trapTRAPtrapTRAP.json.gz";

/// An S3 client for the moto server: fixed test credentials, none of the
/// host's AWS settings, path-style as for any custom endpoint.
async fn client() -> aws_sdk_s3::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .empty_test_environment()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .region(Region::new("eu-west-1"))
        .endpoint_url(start_doctor_testkit::moto::endpoint())
        .load()
        .await;
    start_doctor_remote::s3_client(&config)
}

/// A bucket holding the bundled archive under `trail/`, and the two traps.
async fn bucket(client: &aws_sdk_s3::Client, name: &str) -> S3Location {
    client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("create bucket on moto");
    let day = repo().join("events/cloudtrail-archive").join(ARCHIVE_DAY);
    let mut files: Vec<_> = std::fs::read_dir(&day)
        .expect("archive day")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "the bundled archive has three log files");
    let mut objects: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (
                format!("trail/{ARCHIVE_DAY}/{name}"),
                std::fs::read(f).expect("log file"),
            )
        })
        .collect();
    // A truncated gzip stream: reading either would be an error.
    let corrupt = vec![0x1f, 0x8b, 0x08, 0x00, 0x00];
    objects.push((TRAP_OLD_DAY.to_owned(), corrupt.clone()));
    objects.push((TRAP_OTHER_ACCOUNT.to_owned(), corrupt));
    for (key, body) in objects {
        client
            .put_object()
            .bucket(name)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put object on moto");
    }
    S3Location::parse(&format!("s3://{name}/trail/")).expect("uri")
}

/// The start doctor's reading of an object, as the CLI does it.
fn parse(bytes: &[u8]) -> Result<Option<Document>, String> {
    if !looks_readable(bytes) {
        return Ok(None);
    }
    read_document(bytes).map(Some).map_err(|e| e.to_string())
}

fn documents(read: &ArchiveRead<Document>) -> Vec<Document> {
    read.objects
        .iter()
        .filter_map(|o| o.outcome.as_ref().ok().cloned().flatten())
        .collect()
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .expect("test time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_selection_lists_and_reads_only_the_days_and_accounts_asked_for() {
    let client = client().await;
    let location = bucket(&client, "trail-selected").await;
    let selection = Selection {
        since: Some(time("2026-11-20T00:00:00Z")),
        until: Some(time("2026-11-20T23:59:59Z")),
        accounts: vec![Account::parse("111122223333").expect("account")],
        regions: vec![AwsRegion::parse("eu-west-1").expect("region")],
    };
    let mut last = None;
    let read = read_archive(&client, &location, (&selection, "CloudTrail"), parse, |p| {
        last = Some(p)
    })
    .await
    .expect("read the bucket");
    let errors: Vec<_> = read
        .objects
        .iter()
        .filter_map(|o| o.outcome.as_ref().err().map(|e| (&o.uri, e)))
        .collect();
    assert!(errors.is_empty(), "a planted object was read: {errors:?}");
    assert_eq!(read.objects.len(), 3, "the three log files of the 20th");
    assert_eq!(
        read.skipped, 2,
        "the other account and the 18th were pruned"
    );
    let progress = last.expect("progress was reported");
    assert_eq!((progress.listed, progress.done), (3, 3));
    assert!(progress.bytes > 0);
    assert_eq!(pinned_of(documents(&read)), expected("cloudtrail-archive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_selection_every_object_is_read_and_a_bad_one_costs_only_itself() {
    let client = client().await;
    let location = bucket(&client, "trail-everything").await;
    let read = read_archive(
        &client,
        &location,
        (&Selection::default(), "CloudTrail"),
        parse,
        |_| {},
    )
    .await
    .expect("read the bucket");
    assert_eq!(read.objects.len(), 5);
    assert_eq!(read.list_calls, 1, "one flat listing without a selection");
    let mut bad: Vec<&str> = read
        .objects
        .iter()
        .filter(|o| o.outcome.is_err())
        .map(|o| o.uri.as_str())
        .collect();
    bad.sort_unstable();
    assert_eq!(
        bad,
        [
            format!("s3://trail-everything/{TRAP_OLD_DAY}"),
            format!("s3://trail-everything/{TRAP_OTHER_ACCOUNT}"),
        ]
    );
    assert_eq!(pinned_of(documents(&read)), expected("cloudtrail-archive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_one_error_naming_the_call() {
    let client = client().await;
    let location = S3Location::parse("s3://no-such-trail-bucket/AWSLogs/").expect("uri");
    let error = read_archive(
        &client,
        &location,
        (&Selection::default(), "CloudTrail"),
        parse,
        |_| {},
    )
    .await
    .expect_err("no bucket");
    assert!(error.to_string().contains("ListObjectsV2"), "{error}");
}
