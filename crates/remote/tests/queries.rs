//! `query --run` against mocked Athena and CloudTrail Lake: the calls in
//! order, the wait through QUEUED/RUNNING, every result page read, and a
//! failed query reported with the engine's reason.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput as AthenaResults;
use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
use aws_sdk_athena::types::{
    Datum, QueryExecution, QueryExecutionState, QueryExecutionStatus, ResultSet, Row,
};
use aws_sdk_cloudtrail::operation::describe_query::DescribeQueryOutput;
use aws_sdk_cloudtrail::operation::get_query_results::GetQueryResultsOutput as LakeResults;
use aws_sdk_cloudtrail::operation::start_query::StartQueryOutput;
use aws_sdk_cloudtrail::types::QueryStatus;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use start_doctor_remote::athena::{self, AthenaQuery};
use start_doctor_remote::{lake, RemoteError, Wait};
use start_doctor_start::query::COLUMNS;
use start_doctor_testkit::fixtures::expected;

use super::{evidence_rows, pinned_of};

const FAST: Wait = Wait {
    poll: Duration::from_millis(1),
    timeout: Duration::from_secs(20),
};

fn execution(state: QueryExecutionState, reason: Option<&str>) -> GetQueryExecutionOutput {
    GetQueryExecutionOutput::builder()
        .query_execution(
            QueryExecution::builder()
                .query_execution_id("q-1")
                .status(
                    QueryExecutionStatus::builder()
                        .state(state)
                        .set_state_change_reason(reason.map(str::to_owned))
                        .build(),
                )
                .build(),
        )
        .build()
}

fn athena_row(values: impl IntoIterator<Item = String>) -> Row {
    values
        .into_iter()
        .fold(Row::builder(), |row, v| {
            row.data(Datum::builder().var_char_value(v).build())
        })
        .build()
}

/// Athena rows in COLUMNS order, empty for absent values.
fn athena_rows() -> Vec<Row> {
    evidence_rows()
        .into_iter()
        .map(|row| {
            let by_name: HashMap<String, String> = row.into_iter().collect();
            athena_row(
                COLUMNS
                    .iter()
                    .map(|c| by_name.get(*c).cloned().unwrap_or_default()),
            )
        })
        .collect()
}

fn query() -> AthenaQuery {
    AthenaQuery {
        sql: "SELECT 1".into(),
        workgroup: "post-mortems".into(),
        output_location: Some("s3://athena-results/start-doctor/".into()),
    }
}

#[tokio::test]
async fn athena_run_waits_reads_every_page_and_diagnoses_the_archive() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution)
        .match_requests(|r| {
            r.work_group() == Some("post-mortems")
                && r.result_configuration().and_then(|c| c.output_location())
                    == Some("s3://athena-results/start-doctor/")
                && r.query_string() == Some("SELECT 1")
        })
        .then_output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        });
    let status = mock!(aws_sdk_athena::Client::get_query_execution)
        .sequence()
        .output(|| execution(QueryExecutionState::Queued, None))
        .output(|| execution(QueryExecutionState::Running, None))
        .output(|| execution(QueryExecutionState::Succeeded, None))
        .build();
    let rows = athena_rows();
    assert_eq!(
        rows.len(),
        2,
        "the fixture holds the start call and the denial"
    );
    let (first, second) = (rows[0].clone(), rows[1].clone());
    let header = athena_row(COLUMNS.iter().map(|c| (*c).to_owned()));
    let results = mock!(aws_sdk_athena::Client::get_query_results)
        .sequence()
        .output(move || {
            AthenaResults::builder()
                .result_set(
                    ResultSet::builder()
                        .rows(header.clone())
                        .rows(first.clone())
                        .build(),
                )
                .next_token("page-2")
                .build()
        })
        .output(move || {
            AthenaResults::builder()
                .result_set(ResultSet::builder().rows(second.clone()).build())
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_athena,
        RuleMode::MatchAny,
        &[&start, &status, &results]
    );
    let mut states = Vec::new();
    let outcome = athena::run(&client, &query(), FAST, |s| states.push(s.to_owned()))
        .await
        .expect("the query runs");
    assert_eq!(outcome.id, "q-1");
    assert_eq!(outcome.rows, 2, "the header is not a row");
    assert_eq!(start.num_calls(), 1);
    assert_eq!(status.num_calls(), 3, "polled until SUCCEEDED");
    assert_eq!(results.num_calls(), 2, "both pages read");
    assert!(states.iter().any(|s| s.contains("RUNNING")), "{states:?}");
    assert!(
        outcome.document.problems.is_empty(),
        "{:?}",
        outcome.document.problems
    );
    assert_eq!(
        pinned_of([outcome.document]),
        expected("cloudtrail-archive")
    );
}

#[tokio::test]
async fn a_failed_athena_query_says_why() {
    let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
        StartQueryExecutionOutput::builder()
            .query_execution_id("q-1")
            .build()
    });
    let status = mock!(aws_sdk_athena::Client::get_query_execution).then_output(|| {
        execution(
            QueryExecutionState::Failed,
            Some("TABLE_NOT_FOUND: line 10:6: Table 'awsdatacatalog.default.cloudtrail_logs_pp' does not exist"),
        )
    });
    let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, &[&start, &status]);
    let error = athena::run(&client, &query(), FAST, |_| {})
        .await
        .expect_err("a failed query is an error");
    assert!(
        matches!(&error, RemoteError::QueryFailed { state, reason, .. }
            if state == "FAILED" && reason.contains("TABLE_NOT_FOUND")),
        "{error}"
    );
}

fn lake_page(rows: &[Vec<(String, String)>], next: Option<&str>) -> LakeResults {
    let rows = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(k, v)| HashMap::from([(k.clone(), v.clone())]))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    LakeResults::builder()
        .set_query_result_rows(Some(rows))
        .query_status(QueryStatus::Finished)
        .set_next_token(next.map(str::to_owned))
        .build()
}

#[tokio::test]
async fn lake_run_waits_reads_every_page_and_diagnoses_the_archive() {
    let start = mock!(aws_sdk_cloudtrail::Client::start_query)
        .match_requests(|r| r.query_statement() == Some("SELECT eventid FROM eds-1"))
        .then_output(|| StartQueryOutput::builder().query_id("lq-1").build());
    let describe = mock!(aws_sdk_cloudtrail::Client::describe_query)
        .sequence()
        .output(|| {
            DescribeQueryOutput::builder()
                .query_status(QueryStatus::Running)
                .build()
        })
        .output(|| {
            DescribeQueryOutput::builder()
                .query_status(QueryStatus::Finished)
                .build()
        })
        .build();
    let rows = evidence_rows();
    let (first, second) = (rows[..1].to_vec(), rows[1..].to_vec());
    let results = mock!(aws_sdk_cloudtrail::Client::get_query_results)
        .sequence()
        .output(move || lake_page(&first, Some("page-2")))
        .output(move || lake_page(&second, None))
        .build();
    let client = mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::MatchAny,
        &[&start, &describe, &results]
    );
    let outcome = lake::run(&client, "SELECT eventid FROM eds-1", FAST, |_| {})
        .await
        .expect("the query runs");
    assert_eq!((outcome.id.as_str(), outcome.rows), ("lq-1", 2));
    assert_eq!(describe.num_calls(), 2);
    assert_eq!(results.num_calls(), 2);
    assert_eq!(
        pinned_of([outcome.document]),
        expected("cloudtrail-archive")
    );
}

#[tokio::test]
async fn a_timed_out_lake_query_says_so() {
    let start = mock!(aws_sdk_cloudtrail::Client::start_query)
        .then_output(|| StartQueryOutput::builder().query_id("lq-2").build());
    let describe = mock!(aws_sdk_cloudtrail::Client::describe_query).then_output(|| {
        DescribeQueryOutput::builder()
            .query_status(QueryStatus::TimedOut)
            .error_message("Query timed out")
            .build()
    });
    let client = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, &[&start, &describe]);
    let error = lake::run(&client, "SELECT 1", FAST, |_| {})
        .await
        .expect_err("timed out");
    assert!(error.to_string().contains("TIMED_OUT"), "{error}");
}
