//! The evidence query on Athena: `StartQueryExecution` in a workgroup,
//! `GetQueryExecution` until it ends (reporting its state), then every page
//! of `GetQueryResults` read as CloudTrail records.

use aws_sdk_athena::types::{QueryExecutionState, ResultConfiguration};
use aws_sdk_athena::Client;
use start_doctor_start::read::read_query_rows;

use crate::{wait_for, QueryOutcome, QueryState, RemoteError, Wait};

/// What to run where.
#[derive(Clone, Debug)]
pub struct AthenaQuery {
    /// The SQL (from `start_doctor_start::query::evidence_sql`).
    pub sql: String,
    /// The workgroup.
    pub workgroup: String,
    /// Where Athena writes the result, unless the workgroup decides.
    pub output_location: Option<String>,
}

/// Runs the query and reads its result. `progress` hears each state seen
/// while waiting (`QUEUED`, `RUNNING`, with the data scanned so far).
pub async fn run(
    client: &Client,
    query: &AthenaQuery,
    wait: Wait,
    mut progress: impl FnMut(&str),
) -> Result<QueryOutcome, RemoteError> {
    let mut start = client
        .start_query_execution()
        .query_string(&query.sql)
        .work_group(&query.workgroup);
    if let Some(location) = &query.output_location {
        start = start.result_configuration(
            ResultConfiguration::builder()
                .output_location(location)
                .build(),
        );
    }
    let started = start
        .send()
        .await
        .map_err(|e| RemoteError::call("StartQueryExecution", &e))?;
    let id = started.query_execution_id().unwrap_or_default().to_owned();
    wait_for(&id, wait, &mut progress, || async {
        let execution = client
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .map_err(|e| RemoteError::call("GetQueryExecution", &e))?;
        let execution = execution.query_execution();
        let status = execution.and_then(|e| e.status());
        let state = status
            .and_then(|s| s.state())
            .cloned()
            .unwrap_or(QueryExecutionState::Queued);
        let scanned = execution
            .and_then(|e| e.statistics())
            .and_then(|s| s.data_scanned_in_bytes())
            .unwrap_or(0);
        let line = format!(
            "athena query {id}: {} ({scanned} bytes scanned)",
            state.as_str()
        );
        let verdict = match state {
            QueryExecutionState::Succeeded => QueryState::Succeeded,
            QueryExecutionState::Failed | QueryExecutionState::Cancelled => QueryState::Failed {
                reason: status
                    .and_then(|s| s.state_change_reason())
                    .unwrap_or("no reason given")
                    .to_owned(),
            },
            _ => QueryState::Running,
        };
        Ok((verdict, state.as_str().to_owned(), line))
    })
    .await?;

    let mut header: Option<Vec<String>> = None;
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_query_results()
            .query_execution_id(&id)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| RemoteError::call("GetQueryResults", &e))?;
        let page_rows = page.result_set().map(|r| r.rows()).unwrap_or_default();
        for row in page_rows {
            let values: Vec<String> = row
                .data()
                .iter()
                .map(|d| d.var_char_value().unwrap_or_default().to_owned())
                .collect();
            match &header {
                // The first row of the first page is the header.
                None => header = Some(values),
                Some(names) => rows.push(names.iter().cloned().zip(values).collect()),
            }
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
