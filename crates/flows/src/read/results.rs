//! Query results as records: the CSV Athena writes for the query of
//! [`crate::query`] (a quoted header row, then one quoted row per record),
//! or a `SELECT *` over the Athena User Guide's flow-log table, and the
//! rows of `GetQueryResults`. Columns are matched by name (`account_id` is
//! `account-id`; partition columns such as `accid` and `day` are passed
//! over); an empty value is "no value".

use std::io::Read;

use super::text::{TextError, TextSummary};
use super::{LineProblem, Problems};
use crate::record::{self, Field, Format};
use crate::traffic::Traffic;

/// Whether `head` starts like an Athena CSV result of flow-log records: a
/// quoted header naming `srcaddr` and `dstaddr`.
pub fn looks_like_csv(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first).to_ascii_lowercase();
    line.starts_with('"') && line.contains("\"srcaddr\"") && line.contains("\"dstaddr\"")
}

/// The format of a result's columns.
fn format_of<'a>(columns: impl IntoIterator<Item = &'a str>) -> Option<Format> {
    let fields: Vec<Field> = columns
        .into_iter()
        .map(|c| {
            Field::from_name(&c.trim().to_ascii_lowercase().replace('_', "-"))
                .unwrap_or(Field::Other)
        })
        .collect();
    Format::new(fields)
}

/// Reads one row's values by `format` into `traffic`.
fn row(format: &Format, values: &[&str], traffic: &mut Traffic) -> Result<(), String> {
    let tokens: Vec<&str> = values
        .iter()
        .map(|v| {
            let v = v.trim();
            if v.is_empty() {
                "-"
            } else {
                v
            }
        })
        .collect();
    let record = record::parse(format, &tokens).map_err(|e| e.to_string())?;
    traffic.add(&record);
    Ok(())
}

/// Reads an Athena CSV result into `traffic`.
pub fn read_csv(reader: impl Read, traffic: &mut Traffic) -> Result<TextSummary, TextError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header = csv.headers().map_err(|e| csv_error(&e))?.clone();
    let format = format_of(header.iter()).ok_or(TextError::NotFlowLog {
        line: 1,
        found: "a CSV header without columns".to_owned(),
    })?;
    let mut summary = TextSummary {
        lines: 1,
        ..TextSummary::default()
    };
    for result in csv.records() {
        summary.lines += 1;
        let line = summary.lines;
        let values = match result {
            Ok(values) => values,
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(csv_error(&e));
                }
                summary
                    .problems
                    .push(LineProblem::at_line(line, e.to_string()));
                continue;
            }
        };
        let fields: Vec<&str> = values.iter().collect();
        match row(&format, &fields, traffic) {
            Ok(()) => summary.records += 1,
            Err(message) => summary.problems.push(LineProblem::at_line(line, message)),
        }
    }
    Ok(summary)
}

fn csv_error(e: &csv::Error) -> TextError {
    let line = e.position().map_or(0, |p| p.line());
    TextError::Read {
        line,
        source: std::io::Error::other(e.to_string()),
    }
}

/// Reads the rows of `GetQueryResults` (each a list of (column, value),
/// an empty value standing for null) into `traffic`.
pub fn read_rows<R>(rows: impl IntoIterator<Item = R>, traffic: &mut Traffic) -> (u64, Problems)
where
    R: IntoIterator<Item = (String, String)>,
{
    let mut problems = Problems::default();
    let mut records = 0;
    let mut cached: Option<(Vec<String>, Format)> = None;
    for (i, r) in rows.into_iter().enumerate() {
        let (columns, values): (Vec<String>, Vec<String>) = r.into_iter().unzip();
        if cached.as_ref().is_none_or(|(c, _)| *c != columns) {
            match format_of(columns.iter().map(String::as_str)) {
                Some(format) => cached = Some((columns, format)),
                None => continue,
            }
        }
        let Some((_, format)) = &cached else { continue };
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        match row(format, &values, traffic) {
            Ok(()) => records += 1,
            Err(message) => problems.push(LineProblem::at_line(i as u64 + 1, message)),
        }
    }
    (records, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\"account_id\",\"interface_id\",\"srcaddr\",\"dstaddr\",\"srcport\",\"dstport\",\"protocol\",\"packets\",\"start\",\"end\",\"action\",\"log_status\",\"vpc_id\",\"subnet_id\",\"instance_id\",\"tcp_flags\",\"pkt_srcaddr\",\"pkt_dstaddr\",\"az_id\",\"region\"
\"111122223333\",\"eni-0a1b2c3d4e5f6a0c3\",\"10.1.0.40\",\"10.1.1.25\",\"40131\",\"5432\",\"6\",\"3\",\"1795158120\",\"1795158179\",\"REJECT\",\"OK\",\"vpc-0a1b2c3d4e5f6a001\",\"subnet-0a1b2c3d4e5f6a0c3\",\"-\",\"2\",\"10.20.5.17\",\"10.1.1.25\",\"euw1-az3\",\"eu-west-1\"
\"111122223333\",\"eni-0a1b2c3d4e5f6db01\",\"10.20.5.17\",\"10.1.1.25\",\"40000\",\"5432\",\"6\",\"12\",\"1795158000\",\"1795158059\",\"ACCEPT\",\"OK\",\"vpc-0a1b2c3d4e5f6a001\",\"subnet-0a1b2c3d4e5f6d0a1\",\"i-0a1b2c3d4e5f6db01\",\"\",\"\",\"\",\"euw1-az1\",\"eu-west-1\"
";

    #[test]
    fn an_athena_csv_result_reads_as_records() {
        assert!(looks_like_csv(CSV.as_bytes()));
        assert!(!looks_like_csv(b"\"eventid\",\"eventname\"\n"));
        let mut traffic = Traffic::default();
        let summary = read_csv(CSV.as_bytes(), &mut traffic).expect("csv");
        assert_eq!((summary.records, summary.problems.total), (2, 0));
        assert_eq!((traffic.counts.accepted, traffic.counts.rejected), (1, 1));
        let reject = traffic.rejects.keys().next().expect("a reject");
        assert_eq!(reject.pair.side(!reject.from_a).to_string(), "10.1.1.25");
        assert_eq!(
            reject.pair.side(reject.from_a).to_string(),
            "10.20.5.17",
            "the real client, from pkt_srcaddr"
        );
    }

    #[test]
    fn get_query_results_rows_read_alike() {
        let mut csv = csv::Reader::from_reader(CSV.as_bytes());
        let header: Vec<String> = csv
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows: Vec<Vec<(String, String)>> = csv
            .records()
            .map(|r| {
                header
                    .iter()
                    .cloned()
                    .zip(r.expect("row").iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        let mut traffic = Traffic::default();
        let (records, problems) = read_rows(rows, &mut traffic);
        assert_eq!((records, problems.total), (2, 0));
        assert_eq!((traffic.counts.accepted, traffic.counts.rejected), (1, 1));
    }

    #[test]
    fn a_bad_row_is_a_problem_naming_its_line() {
        let bad = CSV.replacen("\"40131\"", "\"port\"", 1);
        let mut traffic = Traffic::default();
        let summary = read_csv(bad.as_bytes(), &mut traffic).expect("csv");
        assert_eq!(summary.records, 1);
        assert_eq!(
            summary.problems.lines(),
            vec!["line 2: srcport is \"port\", not a number in range".to_owned()]
        );
    }
}
