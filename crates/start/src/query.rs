//! The SQL that selects exactly the evidence from a CloudTrail table in
//! Athena or a CloudTrail Lake event data store, so that a post-mortem over
//! terabytes runs where the data is and only the few matching records come
//! back to [`crate::read`].
//!
//! The evidence is the successful EC2 `StartInstances` / `RunInstances`
//! calls and the failed KMS calls of the grant and decrypt family
//! (`CreateGrant`, `Decrypt`, `GenerateDataKeyWithoutPlaintext`,
//! `ReEncrypt*`). EC2 state changes are EventBridge events, not CloudTrail
//! records: no query can return them, and none is needed (a denied grant
//! naming the instance is evidence of a failed start by itself).
//!
//! Both queries return the same columns, named as [`COLUMNS`] says, which
//! the result readers (`read::results`) map back to CloudTrail records.
//! Every value placed in the SQL is validated first (ids, regions, table
//! names) or written by this module (times), so no input reaches the SQL
//! unchecked.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use start_doctor_core::selection::{Selection, DELIVERY_SLACK};

/// The columns both queries return, in order.
pub const COLUMNS: [&str; 19] = [
    "eventid",
    "eventtime",
    "eventsource",
    "eventname",
    "awsregion",
    "recipientaccountid",
    "errorcode",
    "errormessage",
    "requestid",
    "useragent",
    "sourceipaddress",
    "useridentity_type",
    "useridentity_arn",
    "useridentity_accountid",
    "useridentity_invokedby",
    "sessionissuer_arn",
    "requestparameters",
    "responseelements",
    "resource_arns",
];

/// The KMS calls whose failures are evidence.
const KMS_CALLS: [&str; 3] = ["CreateGrant", "Decrypt", "GenerateDataKeyWithoutPlaintext"];

/// Where the query runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A CloudTrail table in Athena, as the Athena User Guide creates it
    /// ("Create the table for CloudTrail logs in Athena using partition
    /// projection"): lower-case columns, `useridentity` a struct,
    /// `requestparameters` a JSON string, and a `timestamp` partition
    /// (`yyyy/MM/dd`, the delivery day).
    Athena {
        /// `table` or `database.table`.
        table: String,
        /// Whether the table is also partitioned by `account` and `region`
        /// (an organization table), so that they prune too.
        account_region_partitions: bool,
    },
    /// A CloudTrail Lake event data store, by id or ARN.
    Lake {
        /// The event data store id (or ARN).
        event_data_store: String,
    },
}

/// Why no query could be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The table name is not `[database.]table` of letters, digits, `_`.
    #[error("{0:?} is not an Athena table name ([database.]table of letters, digits and _)")]
    Table(String),
    /// The event data store is not an id or ARN.
    #[error("{0:?} is not a CloudTrail Lake event data store id or ARN")]
    EventDataStore(String),
}

fn valid_table(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

fn valid_event_data_store(id: &str) -> bool {
    (3..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-:".contains(&b))
}

/// `'a', 'b'` for values already validated to need no escaping (checked
/// account ids and Region names).
fn list<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL selecting the evidence in `selection` from `source`.
pub fn evidence_sql(source: &Source, selection: &Selection) -> Result<String, QueryError> {
    match source {
        Source::Athena {
            table,
            account_region_partitions,
        } => {
            if !valid_table(table) {
                return Err(QueryError::Table(table.clone()));
            }
            Ok(athena(table, *account_region_partitions, selection))
        }
        Source::Lake { event_data_store } => {
            if !valid_event_data_store(event_data_store) {
                return Err(QueryError::EventDataStore(event_data_store.clone()));
            }
            Ok(lake(event_data_store, selection))
        }
    }
}

/// What both dialects share: the evidence condition, over column names
/// given per dialect.
fn evidence_condition(source: &str, name: &str, error: &str) -> String {
    let kms = KMS_CALLS
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "(({source} = 'ec2.amazonaws.com' AND {name} IN ('StartInstances', 'RunInstances') AND {error} IS NULL)\n\
         \x20     OR ({source} = 'kms.amazonaws.com' AND ({name} IN ({kms}) OR {name} LIKE 'ReEncrypt%') AND {error} IS NOT NULL))"
    )
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn athena(table: &str, account_region_partitions: bool, s: &Selection) -> String {
    let mut sql = String::from(
        "SELECT eventid, eventtime, eventsource, eventname, awsregion, recipientaccountid,\n\
         \x20 errorcode, errormessage, requestid, useragent, sourceipaddress,\n\
         \x20 useridentity.type AS useridentity_type, useridentity.arn AS useridentity_arn,\n\
         \x20 useridentity.accountid AS useridentity_accountid,\n\
         \x20 useridentity.invokedby AS useridentity_invokedby,\n\
         \x20 useridentity.sessioncontext.sessionissuer.arn AS sessionissuer_arn,\n\
         \x20 requestparameters, responseelements,\n\
         \x20 array_join(transform(resources, r -> r.arn), ',') AS resource_arns\n",
    );
    let _ = writeln!(sql, "FROM {table}");
    let _ = writeln!(
        sql,
        "WHERE {}",
        evidence_condition("eventsource", "eventname", "errorcode")
    );
    // The partition is the delivery day: records of the range are in the
    // days from `since` to `until` plus the delivery slack.
    if let Some(since) = s.since {
        let _ = writeln!(sql, "  AND \"timestamp\" >= '{}'", since.format("%Y/%m/%d"));
        let _ = writeln!(
            sql,
            "  AND from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('{}')",
            rfc3339(since)
        );
    }
    if let Some(until) = s.until {
        let _ = writeln!(
            sql,
            "  AND \"timestamp\" <= '{}'",
            (until + DELIVERY_SLACK).format("%Y/%m/%d")
        );
        let _ = writeln!(
            sql,
            "  AND from_iso8601_timestamp(eventtime) <= from_iso8601_timestamp('{}')",
            rfc3339(until)
        );
    }
    if !s.accounts.is_empty() {
        if account_region_partitions {
            let _ = writeln!(sql, "  AND account IN ({})", list(&s.accounts));
        }
        let _ = writeln!(sql, "  AND recipientaccountid IN ({})", list(&s.accounts));
    }
    if !s.regions.is_empty() {
        if account_region_partitions {
            let _ = writeln!(sql, "  AND region IN ({})", list(&s.regions));
        }
        let _ = writeln!(sql, "  AND awsregion IN ({})", list(&s.regions));
    }
    sql.push_str("ORDER BY eventtime, eventid\n");
    sql
}

fn lake(event_data_store: &str, s: &Selection) -> String {
    let mut sql = String::from(
        "SELECT eventID AS eventid, eventTime AS eventtime, eventSource AS eventsource,\n\
         \x20 eventName AS eventname, awsRegion AS awsregion, recipientAccountId AS recipientaccountid,\n\
         \x20 errorCode AS errorcode, errorMessage AS errormessage, requestID AS requestid,\n\
         \x20 userAgent AS useragent, sourceIPAddress AS sourceipaddress,\n\
         \x20 userIdentity.type AS useridentity_type, userIdentity.arn AS useridentity_arn,\n\
         \x20 userIdentity.accountId AS useridentity_accountid,\n\
         \x20 userIdentity.invokedBy AS useridentity_invokedby,\n\
         \x20 userIdentity.sessionContext.sessionIssuer.arn AS sessionissuer_arn,\n\
         \x20 requestParameters AS requestparameters, responseElements AS responseelements,\n\
         \x20 element_at(resources, 1).arn AS resource_arns\n",
    );
    let _ = writeln!(sql, "FROM {event_data_store}");
    let _ = writeln!(
        sql,
        "WHERE {}",
        evidence_condition("eventSource", "eventName", "errorCode")
    );
    // Lake's eventTime is a timestamp; its documented examples compare it
    // with 'yyyy-MM-dd HH:mm:ss' literals.
    let lake_time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    if let Some(since) = s.since {
        let _ = writeln!(sql, "  AND eventTime >= '{}'", lake_time(since));
    }
    if let Some(until) = s.until {
        let _ = writeln!(sql, "  AND eventTime <= '{}'", lake_time(until));
    }
    if !s.accounts.is_empty() {
        let _ = writeln!(sql, "  AND recipientAccountId IN ({})", list(&s.accounts));
    }
    if !s.regions.is_empty() {
        let _ = writeln!(sql, "  AND awsRegion IN ({})", list(&s.regions));
    }
    sql.push_str("ORDER BY eventTime, eventID\n");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use start_doctor_core::ids::{Account, Region};

    fn account(id: &str) -> Account {
        Account::parse(id).expect("test account")
    }

    fn region(name: &str) -> Region {
        Region::parse(name).expect("test region")
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("test time {s}: {e}"))
    }

    fn selection() -> Selection {
        Selection {
            since: Some(t("2026-11-20T06:00:00Z")),
            until: Some(t("2026-11-20T23:30:00Z")),
            accounts: vec![account("111122223333"), account("444455556666")],
            regions: vec![region("eu-west-1")],
        }
    }

    fn athena_source(partitions: bool) -> Source {
        Source::Athena {
            table: "security.cloudtrail_logs_pp".into(),
            account_region_partitions: partitions,
        }
    }

    #[test]
    fn athena_sql_prunes_by_delivery_day_and_filters_by_event_time() {
        let sql = evidence_sql(&athena_source(false), &selection()).expect("sql");
        for want in [
            "FROM security.cloudtrail_logs_pp\n",
            "\"timestamp\" >= '2026/11/20'",
            // 23:30 plus the hour of delivery slack is the next day.
            "\"timestamp\" <= '2026/11/21'",
            "from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('2026-11-20T06:00:00Z')",
            "from_iso8601_timestamp(eventtime) <= from_iso8601_timestamp('2026-11-20T23:30:00Z')",
            "recipientaccountid IN ('111122223333', '444455556666')",
            "awsregion IN ('eu-west-1')",
            "eventname IN ('StartInstances', 'RunInstances') AND errorcode IS NULL",
            "eventname IN ('CreateGrant', 'Decrypt', 'GenerateDataKeyWithoutPlaintext') OR eventname LIKE 'ReEncrypt%') AND errorcode IS NOT NULL",
            "useridentity.sessioncontext.sessionissuer.arn AS sessionissuer_arn",
        ] {
            assert!(sql.contains(want), "Athena SQL lacks {want:?}:\n{sql}");
        }
        assert!(
            !sql.contains("AND account IN"),
            "no account partition: {sql}"
        );
        let with = evidence_sql(&athena_source(true), &selection()).expect("sql");
        assert!(with.contains("AND account IN ('111122223333', '444455556666')"));
        assert!(with.contains("AND region IN ('eu-west-1')"));
    }

    #[test]
    fn both_dialects_return_the_same_columns_in_order() {
        for source in [
            athena_source(false),
            Source::Lake {
                event_data_store: "EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE".into(),
            },
        ] {
            let sql = evidence_sql(&source, &Selection::default()).expect("sql");
            let select = sql.split("\nFROM").next().unwrap_or_default();
            let mut at = 0;
            for column in COLUMNS {
                let found = select[at..]
                    .find(&format!(" {column}"))
                    .map(|i| at + i)
                    .filter(|i| {
                        select[*i + 1 + column.len()..].starts_with([',', '\n'])
                            || *i + 1 + column.len() == select.len()
                    });
                let Some(i) = found else {
                    panic!("{source:?}: column {column} missing or out of order:\n{select}");
                };
                at = i + 1;
            }
        }
    }

    #[test]
    fn lake_sql_names_the_event_data_store_and_compares_event_time() {
        let sql = evidence_sql(
            &Source::Lake {
                event_data_store: "EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE".into(),
            },
            &selection(),
        )
        .expect("sql");
        for want in [
            "FROM EXAMPLEf852-4e8f-8bd1-bcf6cEXAMPLE\n",
            "eventTime >= '2026-11-20 06:00:00'",
            "eventTime <= '2026-11-20 23:30:00'",
            "recipientAccountId IN ('111122223333', '444455556666')",
            "eventSource = 'kms.amazonaws.com'",
            "userIdentity.sessionContext.sessionIssuer.arn AS sessionissuer_arn",
        ] {
            assert!(sql.contains(want), "Lake SQL lacks {want:?}:\n{sql}");
        }
        assert!(!sql.contains("timestamp"), "Lake has no partitions: {sql}");
    }

    #[test]
    fn nothing_unvalidated_reaches_the_sql() {
        let lake = |id: &str| Source::Lake {
            event_data_store: id.into(),
        };
        let athena = |table: &str| Source::Athena {
            table: table.into(),
            account_region_partitions: false,
        };
        let all = Selection::default();
        assert_eq!(
            evidence_sql(&athena("logs; DROP TABLE x"), &all),
            Err(QueryError::Table("logs; DROP TABLE x".into()))
        );
        assert_eq!(
            evidence_sql(&athena("a.b.c"), &all),
            Err(QueryError::Table("a.b.c".into()))
        );
        assert_eq!(
            evidence_sql(&lake("eds' OR 1=1"), &all),
            Err(QueryError::EventDataStore("eds' OR 1=1".into()))
        );
        // Accounts and Regions reach the SQL only as checked ids, which
        // cannot hold a quote.
        assert!(Region::parse("eu-west-1' --").is_none());
        assert!(Account::parse("1111'").is_none());
    }
}
