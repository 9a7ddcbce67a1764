//! The evidence query on CloudTrail Lake: `StartQuery`, `DescribeQuery`
//! until it ends (reporting its state), then every page of
//! `GetQueryResults` read as CloudTrail records.

use std::time::Instant;

use aws_sdk_cloudtrail::types::QueryStatus;
use aws_sdk_cloudtrail::Client;
use start_doctor_core::read::read_query_rows;

use crate::{QueryOutcome, RemoteError, Wait};

/// Runs `sql` (from `start_doctor_core::query::evidence_sql`, which names
/// the event data store) and reads its result.
pub async fn run(
    client: &Client,
    sql: &str,
    wait: Wait,
    mut progress: impl FnMut(&str),
) -> Result<QueryOutcome, RemoteError> {
    let started = client
        .start_query()
        .query_statement(sql)
        .send()
        .await
        .map_err(|e| RemoteError::call("StartQuery", &e))?;
    let id = started.query_id().unwrap_or_default().to_owned();
    let since = Instant::now();
    loop {
        let described = client
            .describe_query()
            .query_id(&id)
            .send()
            .await
            .map_err(|e| RemoteError::call("DescribeQuery", &e))?;
        let status = described
            .query_status()
            .cloned()
            .unwrap_or(QueryStatus::Queued);
        let scanned = described
            .query_statistics()
            .and_then(|s| s.bytes_scanned())
            .unwrap_or(0);
        progress(&format!(
            "lake query {id}: {} ({scanned} bytes scanned)",
            status.as_str()
        ));
        match status {
            QueryStatus::Finished => break,
            QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::TimedOut => {
                return Err(RemoteError::QueryFailed {
                    id,
                    state: status.as_str().to_owned(),
                    reason: described
                        .error_message()
                        .unwrap_or("no reason given")
                        .to_owned(),
                })
            }
            _ if since.elapsed() >= wait.timeout => {
                return Err(RemoteError::QueryTimeout {
                    id,
                    state: status.as_str().to_owned(),
                    waited: since.elapsed(),
                })
            }
            _ => tokio::time::sleep(wait.poll).await,
        }
    }

    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_query_results()
            .query_id(&id)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| RemoteError::call("GetQueryResults", &e))?;
        for row in page.query_result_rows() {
            rows.push(
                row.iter()
                    .flat_map(|cell| cell.iter())
                    .map(|(column, value)| (column.clone(), value.clone()))
                    .collect(),
            );
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    Ok(QueryOutcome {
        id,
        rows: rows.len(),
        document: read_query_rows(rows),
    })
}
