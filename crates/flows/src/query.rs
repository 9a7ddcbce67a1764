//! The SQL that selects, from the VPC flow-log table of the Athena User
//! Guide ("Create and query a table for Amazon VPC flow logs using
//! partition projection": columns `version` … `traffic_path`, partitions
//! `accid`, `region`, `day` as `yyyy/MM/dd`), the records of every
//! conversation with a rejected record: its REJECT records and their
//! accepted counterparts, between the same two addresses (the real ones,
//! `pkt-*` when logged) and protocol, and only the columns the replay
//! reads. The result (Athena's CSV, or the rows of `GetQueryResults`) is
//! read back by [`crate::read::results`], so `start-doctor flows` diagnoses
//! it like flow-log files.
//!
//! Flow-log text keeps `-` for "no value": the string columns of the
//! guide's table hold `-`, not NULL, and the SQL treats both alike.
//! Every value placed in the SQL is validated first (table, accounts,
//! regions) or written here (times), so no input reaches it unchecked.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::archive::DELIVERY_SLACK;

/// The columns the query returns, named as the table names them.
pub const COLUMNS: [&str; 20] = [
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "start",
    "end",
    "action",
    "log_status",
    "vpc_id",
    "subnet_id",
    "instance_id",
    "tcp_flags",
    "pkt_srcaddr",
    "pkt_dstaddr",
    "az_id",
    "region",
];

/// What to select.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowQuery {
    /// `table` or `database.table`.
    pub table: String,
    /// Records ending at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records starting at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only these accounts (the `accid` partition).
    pub accounts: Vec<String>,
    /// Only these regions (the `region` partition).
    pub regions: Vec<String>,
}

/// Why no query could be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The table name is not `[database.]table` of letters, digits, `_`.
    #[error("{0:?} is not an Athena table name ([database.]table of letters, digits and _)")]
    Table(String),
    /// A region that is not lower-case letters, digits and dashes.
    #[error("{0:?} is not an AWS region")]
    Region(String),
    /// An account that is not 12 digits.
    #[error("{0:?} is not an AWS account id (12 digits)")]
    Account(String),
}

fn valid_table(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

fn list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The real source (`pkt_srcaddr` when logged) of a row of `alias`.
fn real(alias: &str, pkt: &str, plain: &str) -> String {
    format!(
        "CASE WHEN {alias}.{pkt} IS NULL OR {alias}.{pkt} IN ('', '-') THEN {alias}.{plain} ELSE {alias}.{pkt} END"
    )
}

/// The Athena SQL for `query`.
pub fn athena_sql(query: &FlowQuery) -> Result<String, QueryError> {
    if !valid_table(&query.table) {
        return Err(QueryError::Table(query.table.clone()));
    }
    if let Some(bad) = query.regions.iter().find(|r| {
        r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }) {
        return Err(QueryError::Region(bad.clone()));
    }
    if let Some(bad) = query
        .accounts
        .iter()
        .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(QueryError::Account(bad.clone()));
    }
    let mut filter = String::from("  WHERE log_status = 'OK'\n");
    // The `day` partition is the delivery day: the records of the range
    // are in the files delivered from `since` to `until` plus the slack.
    if let Some(since) = query.since {
        let _ = writeln!(filter, "    AND day >= '{}'", since.format("%Y/%m/%d"));
        let _ = writeln!(filter, "    AND \"end\" >= {}", since.timestamp());
    }
    if let Some(until) = query.until {
        let _ = writeln!(
            filter,
            "    AND day <= '{}'",
            (until + DELIVERY_SLACK).format("%Y/%m/%d")
        );
        let _ = writeln!(filter, "    AND start <= {}", until.timestamp());
    }
    if !query.accounts.is_empty() {
        let _ = writeln!(filter, "    AND accid IN ({})", list(&query.accounts));
    }
    if !query.regions.is_empty() {
        let _ = writeln!(filter, "    AND region IN ({})", list(&query.regions));
    }
    let columns = COLUMNS
        .iter()
        .map(|c| format!("f.\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = String::new();
    let _ = writeln!(sql, "WITH records AS (");
    let _ = writeln!(
        sql,
        "  SELECT {}",
        COLUMNS.map(|c| format!("\"{c}\"")).join(", ")
    );
    let _ = writeln!(sql, "  FROM {}", query.table);
    sql.push_str(&filter);
    let _ = writeln!(sql, "),");
    let _ = writeln!(sql, "flows AS (");
    let _ = writeln!(
        sql,
        "  SELECT r.*, {} AS a, {} AS b",
        real("r", "pkt_srcaddr", "srcaddr"),
        real("r", "pkt_dstaddr", "dstaddr")
    );
    let _ = writeln!(sql, "  FROM records r");
    let _ = writeln!(sql, "),");
    let _ = writeln!(sql, "rejected AS (");
    let _ = writeln!(
        sql,
        "  SELECT DISTINCT LEAST(a, b) AS lo, GREATEST(a, b) AS hi, protocol"
    );
    let _ = writeln!(sql, "  FROM flows");
    let _ = writeln!(sql, "  WHERE action = 'REJECT'");
    let _ = writeln!(sql, ")");
    let _ = writeln!(sql, "SELECT {columns}");
    let _ = writeln!(sql, "FROM flows f");
    let _ = writeln!(
        sql,
        "JOIN rejected j ON j.protocol = f.protocol AND j.lo = LEAST(f.a, f.b) AND j.hi = GREATEST(f.a, f.b)"
    );
    let _ = writeln!(
        sql,
        "ORDER BY f.start, f.interface_id, f.srcaddr, f.srcport"
    );
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("time")
    }

    fn query() -> FlowQuery {
        FlowQuery {
            table: "network.vpc_flow_logs".into(),
            since: Some(t(2026, 11, 20, 7, 0)),
            until: Some(t(2026, 11, 20, 23, 30)),
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
        }
    }

    #[test]
    fn the_sql_prunes_partitions_and_keeps_conversations_with_a_reject() {
        let sql = athena_sql(&query()).expect("sql");
        for want in [
            "FROM network.vpc_flow_logs\n",
            "day >= '2026/11/20'",
            // 23:30 plus the hour of delivery slack is the next day.
            "day <= '2026/11/21'",
            "\"end\" >= 1795158000",
            "accid IN ('111122223333')",
            "region IN ('eu-west-1')",
            "WHERE action = 'REJECT'",
            "CASE WHEN r.pkt_srcaddr IS NULL OR r.pkt_srcaddr IN ('', '-') THEN r.srcaddr ELSE r.pkt_srcaddr END",
            "j.lo = LEAST(f.a, f.b)",
        ] {
            assert!(sql.contains(want), "SQL lacks {want:?}:\n{sql}");
        }
        let select = sql.rsplit("\nSELECT ").next().unwrap_or_default();
        for column in COLUMNS {
            assert!(
                select.contains(&format!("f.\"{column}\"")),
                "{column} not selected"
            );
        }
    }

    #[test]
    fn nothing_unvalidated_reaches_the_sql() {
        let bad_table = FlowQuery {
            table: "logs; DROP TABLE x".into(),
            ..query()
        };
        assert_eq!(
            athena_sql(&bad_table),
            Err(QueryError::Table("logs; DROP TABLE x".into()))
        );
        let bad_region = FlowQuery {
            regions: vec!["eu-west-1' --".into()],
            ..query()
        };
        assert_eq!(
            athena_sql(&bad_region),
            Err(QueryError::Region("eu-west-1' --".into()))
        );
        let bad_account = FlowQuery {
            accounts: vec!["1111'".into()],
            ..query()
        };
        assert_eq!(
            athena_sql(&bad_account),
            Err(QueryError::Account("1111'".into()))
        );
    }
}
