//! The evidence query on CloudTrail Lake: `StartQuery`, `DescribeQuery`
//! until it ends (reporting its state), then every page of
//! `GetQueryResults` read as CloudTrail records.

use aws_sdk_cloudtrail::types::QueryStatus;
use aws_sdk_cloudtrail::Client;
use start_doctor_start::read::read_query_rows;

use crate::{wait_for, QueryOutcome, QueryState, RemoteError, Wait};

/// Runs `sql` (from `start_doctor_start::query::evidence_sql`, which names
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
    wait_for(&id, wait, &mut progress, || async {
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
        let line = format!(
            "lake query {id}: {} ({scanned} bytes scanned)",
            status.as_str()
        );
        let verdict = match status {
            QueryStatus::Finished => QueryState::Succeeded,
            QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::TimedOut => {
                QueryState::Failed {
                    reason: described
                        .error_message()
                        .unwrap_or("no reason given")
                        .to_owned(),
                }
            }
            _ => QueryState::Running,
        };
        Ok((verdict, status.as_str().to_owned(), line))
    })
    .await?;

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
