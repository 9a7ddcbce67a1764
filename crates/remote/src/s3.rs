//! An `AWSLogs` archive (CloudTrail, VPC Flow Logs) read in place in S3:
//! `ListObjectsV2` walks the prefix one folder level at a time (delimiter
//! `/`), so that the selection's layout decisions
//! (`Selection::admits_components`) prune whole accounts, regions, days
//! and hours before they are listed; the objects left are fetched with a
//! bounded number of parallel `GetObject` calls and parsed, by the doctor's
//! own parser, on the blocking pool. Memory is bounded by the concurrency
//! times the size of one object (log files are small), plus what the parser
//! keeps. Retries are the SDK's standard ones.

use std::sync::Arc;

use aws_sdk_s3::Client;
use start_doctor_core::selection::Selection;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::RemoteError;

/// `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (may be empty).
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(uri: &str) -> Result<Self, RemoteError> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| RemoteError::S3Uri(uri.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(RemoteError::S3Uri(uri.to_owned()));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// One object read (or not).
#[derive(Debug)]
pub struct ObjectRead<T> {
    /// `s3://bucket/key`.
    pub uri: String,
    /// Its size.
    pub bytes: u64,
    /// What the parser made of it; `Ok(None)` for an object the parser
    /// passes over (not its kind of file); `Err` with the reason it could
    /// not be read.
    pub outcome: Result<Option<T>, String>,
}

/// Everything read under one location.
#[derive(Debug)]
pub struct ArchiveRead<T> {
    /// The objects, in no particular order.
    pub objects: Vec<ObjectRead<T>>,
    /// Folders and objects the selection ruled out without reading them.
    pub skipped: usize,
    /// `ListObjectsV2` calls made.
    pub list_calls: usize,
}

/// Progress of a read: objects and bytes done so far, of how many listed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Objects listed for reading.
    pub listed: usize,
    /// Objects read.
    pub done: usize,
    /// Bytes read.
    pub bytes: u64,
}

/// How many `GetObject` calls run at once.
pub const CONCURRENCY: usize = 32;

/// Lists the objects under `location` that can hold what `selection` asks
/// of `service` (the layout's service folder: `CloudTrail`,
/// `vpcflowlogs`), then reads them with at most [`CONCURRENCY`] requests in
/// flight, each parsed by `parse`. A failed listing fails the read; a
/// failed object is one [`ObjectRead`] error and the rest goes on.
pub async fn read_archive<T, P>(
    client: &Client,
    location: &S3Location,
    (selection, service): (&Selection, &str),
    parse: P,
    mut progress: impl FnMut(Progress),
) -> Result<ArchiveRead<T>, RemoteError>
where
    T: Send + 'static,
    P: Fn(&[u8]) -> Result<Option<T>, String> + Send + Sync + 'static,
{
    let mut read = ArchiveRead {
        objects: Vec::new(),
        skipped: 0,
        list_calls: 0,
    };
    let keys = list(client, location, selection, service, &mut read).await?;
    let parse = Arc::new(parse);
    let mut state = Progress {
        listed: keys.len(),
        ..Progress::default()
    };
    progress(state);
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (key, size) in keys {
        let client = client.clone();
        let bucket = location.bucket.clone();
        let uri = location.uri(&key);
        let permits = Arc::clone(&permits);
        let parse = Arc::clone(&parse);
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return ObjectRead {
                    uri,
                    bytes: 0,
                    outcome: Err("reader stopped".to_owned()),
                };
            };
            let outcome = fetch(&client, &bucket, &key).await;
            let outcome = match outcome {
                Ok(bytes) => tokio::task::spawn_blocking(move || parse(&bytes))
                    .await
                    .unwrap_or_else(|e| Err(format!("parser stopped: {e}"))),
                Err(e) => Err(e),
            };
            ObjectRead {
                uri,
                bytes: size,
                outcome,
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(object) => {
                state.done += 1;
                state.bytes += object.bytes;
                progress(state);
                read.objects.push(object);
            }
            Err(e) => read.objects.push(ObjectRead {
                uri: location.uri(&location.prefix),
                bytes: 0,
                outcome: Err(format!("reader task failed: {e}")),
            }),
        }
    }
    Ok(read)
}

async fn fetch(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| RemoteError::call("GetObject", &e).to_string())?;
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| format!("GetObject: reading the body: {e}"))?;
    Ok(body.into_bytes().to_vec())
}

/// The keys (and sizes) to read: a folder-by-folder walk that never lists
/// what the selection rules out. Without a selection, one flat listing.
async fn list<T>(
    client: &Client,
    location: &S3Location,
    selection: &Selection,
    service: &str,
    read: &mut ArchiveRead<T>,
) -> Result<Vec<(String, u64)>, RemoteError> {
    let flat = selection.is_everything();
    let mut keys = Vec::new();
    let mut folders = vec![location.prefix.clone()];
    while let Some(prefix) = folders.pop() {
        let mut token: Option<String> = None;
        loop {
            let mut request = client
                .list_objects_v2()
                .bucket(&location.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take());
            if !flat {
                request = request.delimiter("/");
            }
            let page = request
                .send()
                .await
                .map_err(|e| RemoteError::call("ListObjectsV2", &e))?;
            read.list_calls += 1;
            for folder in page.common_prefixes() {
                let Some(folder) = folder.prefix() else {
                    continue;
                };
                if selection.admits_components(folder.split('/'), service) {
                    folders.push(folder.to_owned());
                } else {
                    read.skipped += 1;
                }
            }
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.ends_with('/') {
                    continue;
                }
                if flat || selection.admits_components(key.split('/'), service) {
                    let size = object.size().and_then(|s| u64::try_from(s).ok());
                    keys.push((key.to_owned(), size.unwrap_or(0)));
                } else {
                    read.skipped += 1;
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
    }
    keys.sort();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(
            S3Location::parse("s3://trail/AWSLogs/o-abc/").ok(),
            Some(S3Location {
                bucket: "trail".into(),
                prefix: "AWSLogs/o-abc/".into()
            })
        );
        assert_eq!(
            S3Location::parse("s3://trail").ok().map(|l| l.prefix),
            Some(String::new())
        );
        for bad in ["s3://", "s3:///key", "https://trail/x", "trail"] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
