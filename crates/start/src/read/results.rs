//! Query engines' result files: Athena's CSV (a header row, then one row
//! per record, every field quoted) and CloudTrail Lake's `GetQueryResults`
//! JSON (`QueryResultRows`: rows, each a list of `{column: value}` maps).
//!
//! A row is turned back into a CloudTrail record and read like any other,
//! so the diagnosis cannot tell where a record came from. Columns are
//! matched by name, case-insensitively: the ones `start-doctor query`
//! writes ([`crate::query::COLUMNS`]), and those of a plain `SELECT *` over
//! the standard Athena table, whose `useridentity` and `resources` come out
//! as Presto text (`{type=AssumedRole, arn=..., sessioncontext={...}}`).
//! JSON values (Athena's `requestparameters`) are parsed as JSON; values
//! that are not JSON are read as that text form; an empty field is null.

use serde_json::{Map, Value};

use super::cloudtrail::RawRecord;
use super::sink::Sink;
use super::{DocumentError, EventProblem};

/// Whether the bytes start like an Athena CSV result: a quoted header
/// naming `eventid` and `eventname`.
pub(super) fn looks_like_csv(text: &[u8]) -> bool {
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(first_line).to_ascii_lowercase();
    header.starts_with('"') && header.contains("\"eventid\"") && header.contains("\"eventname\"")
}

/// Reads an Athena CSV result.
pub(super) fn read_csv(text: &[u8]) -> Result<super::Document, DocumentError> {
    let text = std::str::from_utf8(text).map_err(|e| DocumentError::Shape {
        line: 1,
        message: format!("CSV is not UTF-8: {e}"),
    })?;
    let mut rows = CsvRows::new(text);
    let header = match rows.next() {
        Some(Ok((_, header))) => header,
        Some(Err(line)) => return Err(unterminated(line)),
        None => return Ok(super::Document::default()),
    };
    let header: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut document = super::Document::default();
    for row in rows {
        let (line, fields) = row.map_err(unterminated)?;
        if fields.len() != header.len() {
            document.problems.push(EventProblem {
                line: Some(line),
                event_id: None,
                message: format!(
                    "CSV row has {} fields, the header {}",
                    fields.len(),
                    header.len()
                ),
            });
            continue;
        }
        let mut sink = Sink::default();
        read_row(header.iter().map(String::as_str).zip(fields), &mut sink);
        let (evidence, problems) = sink.into_parts();
        document.evidence.extend(evidence);
        document.problems.extend(problems.into_iter().map(|mut p| {
            p.line.get_or_insert(line);
            p
        }));
    }
    Ok(document)
}

fn unterminated(line: usize) -> DocumentError {
    DocumentError::Json {
        line,
        column: 1,
        message: "CSV field opened with a quote is never closed".to_owned(),
    }
}

/// RFC 4180 rows: `Ok((line the row starts on, fields))`, or `Err(line)`
/// for a quoted field that never closes.
struct CsvRows<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> CsvRows<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 1,
        }
    }
}

impl Iterator for CsvRows<'_> {
    type Item = Result<(usize, Vec<String>), usize>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip blank lines between rows.
        while let Some(after) = self
            .rest
            .strip_prefix("\r\n")
            .or_else(|| self.rest.strip_prefix('\n'))
        {
            self.rest = after;
            self.line += 1;
        }
        if self.rest.is_empty() {
            return None;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut quoted = false;
        let mut at_field_start = true;
        let mut consumed = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek().is_some_and(|(_, n)| *n == '"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\r' if chars.peek().is_some_and(|(_, n)| *n == '\n') => {}
                '\n' => {
                    consumed = i + 1;
                    break;
                }
                _ => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
        if quoted {
            self.rest = "";
            return Some(Err(start_line));
        }
        fields.push(field);
        self.rest = &self.rest[consumed.min(self.rest.len())..];
        self.line += 1;
        Some(Ok((start_line, fields)))
    }
}

/// Reads Lake's `QueryResultRows`: each row a list of one-entry maps.
pub(super) fn read_lake_rows(raw: &serde_json::value::RawValue, sink: &mut Sink) {
    let rows: Vec<Vec<Map<String, Value>>> = match serde_json::from_str(raw.get()) {
        Ok(rows) => rows,
        Err(e) => {
            return sink.problem(EventProblem::new(
                None,
                format!("QueryResultRows is not a list of rows of {{column: value}} maps: {e}"),
            ))
        }
    };
    for row in rows {
        let columns: Vec<(String, String)> = row
            .into_iter()
            .flat_map(|cell| cell.into_iter())
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.to_ascii_lowercase(), text)
            })
            .collect();
        read_row(columns.iter().map(|(k, v)| (k.as_str(), v.clone())), sink);
    }
}

/// Turns one row (column name, text value) into a CloudTrail record and
/// reads it.
pub(super) fn read_row<'a>(columns: impl IntoIterator<Item = (&'a str, String)>, sink: &mut Sink) {
    let mut record = Map::new();
    let mut identity = Map::new();
    let mut issuer_arn = None;
    for (column, text) in columns {
        if text.is_empty() || text == "null" {
            continue;
        }
        let string = Value::String(text.clone());
        match column {
            "eventid" => put(&mut record, "eventID", string),
            "eventtime" => put(&mut record, "eventTime", Value::String(rfc3339(&text))),
            "eventsource" => put(&mut record, "eventSource", string),
            "eventname" => put(&mut record, "eventName", string),
            "awsregion" => put(&mut record, "awsRegion", string),
            "recipientaccountid" => put(&mut record, "recipientAccountId", string),
            "errorcode" => put(&mut record, "errorCode", string),
            "errormessage" => put(&mut record, "errorMessage", string),
            "requestid" => put(&mut record, "requestID", string),
            "useragent" => put(&mut record, "userAgent", string),
            "sourceipaddress" => put(&mut record, "sourceIPAddress", string),
            "useridentity_type" => put(&mut identity, "type", string),
            "useridentity_arn" => put(&mut identity, "arn", string),
            "useridentity_accountid" => put(&mut identity, "accountId", string),
            "useridentity_invokedby" => put(&mut identity, "invokedBy", string),
            "sessionissuer_arn" => issuer_arn = Some(string),
            "useridentity" => {
                if let Value::Object(map) = camel_identity(structured(&text)) {
                    identity.extend(map);
                }
            }
            "requestparameters" => put(&mut record, "requestParameters", structured(&text)),
            "responseelements" => put(&mut record, "responseElements", structured(&text)),
            "resource_arns" => {
                let resources = text
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(|arn| serde_json::json!({"ARN": arn}))
                    .collect();
                put(&mut record, "resources", Value::Array(resources));
            }
            "resources" => {
                let resources = match structured(&text) {
                    Value::Array(items) => items
                        .into_iter()
                        .filter_map(|r| r.get("arn").or_else(|| r.get("ARN")).cloned())
                        .map(|arn| serde_json::json!({"ARN": arn}))
                        .collect(),
                    _ => Vec::new(),
                };
                put(&mut record, "resources", Value::Array(resources));
            }
            _ => {}
        }
    }
    if let Some(arn) = issuer_arn {
        identity.insert(
            "sessionContext".into(),
            serde_json::json!({"sessionIssuer": {"arn": arn}}),
        );
    }
    if !identity.is_empty() {
        record.insert("userIdentity".into(), Value::Object(identity));
    }
    let text = Value::Object(record).to_string();
    match serde_json::from_str::<RawRecord>(&text) {
        Ok(record) => sink.take(record.into_evidence()),
        Err(e) => sink.problem(EventProblem::new(None, format!("query result row: {e}"))),
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.insert(key.to_owned(), value);
}

/// `2026-11-20 07:00:05.000` (Lake) or `2026-11-20T07:00:05Z` (Athena) as
/// RFC 3339.
fn rfc3339(text: &str) -> String {
    let t = text.trim().replacen(' ', "T", 1);
    let has_zone = t.ends_with('Z')
        || t.rsplit_once('T')
            .is_some_and(|(_, time)| time.contains('+') || time.contains('-'));
    if has_zone {
        t
    } else {
        t + "Z"
    }
}

/// The Presto text form's lower-case keys in the names a CloudTrail record
/// uses, for the identity fields the reader needs.
fn camel_identity(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let k = match k.as_str() {
                        "sessioncontext" => "sessionContext".to_owned(),
                        "sessionissuer" => "sessionIssuer".to_owned(),
                        "invokedby" => "invokedBy".to_owned(),
                        "accountid" => "accountId".to_owned(),
                        "principalid" => "principalId".to_owned(),
                        _ => k,
                    };
                    (k, camel_identity(v))
                })
                .collect(),
        ),
        other => other,
    }
}

/// A field holding JSON, or Presto's text form of a row, map or array.
fn structured(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return expand_json_strings(value);
    }
    let mut parser = PrestoText {
        text: text.trim(),
        at: 0,
        failed: false,
    };
    let value = parser.value();
    if !parser.failed && parser.at == parser.text.len() {
        value
    } else {
        Value::String(text.to_owned())
    }
}

/// Lake's maps hold nested objects as JSON strings: parse those too.
fn expand_json_strings(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, expand_json_strings(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(expand_json_strings).collect()),
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
            serde_json::from_str::<Value>(&s)
                .map(expand_json_strings)
                .unwrap_or(Value::String(s))
        }
        other => other,
    }
}

/// Presto's text form: `{k=v, k={...}}`, `[a, b]`, scalars up to the next
/// `, ` or closing bracket. Values holding `, ` themselves cannot be told
/// apart from the separator; the fields the diagnosis reads (ids, ARNs,
/// types) never do.
struct PrestoText<'a> {
    text: &'a str,
    at: usize,
    /// The text broke the grammar: the caller keeps it as a string.
    failed: bool,
}

impl PrestoText<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn fail(&mut self) {
        self.failed = true;
        self.at = self.text.len();
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.at += s.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Value {
        if self.eat("{") {
            let mut map = Map::new();
            while !self.eat("}") {
                let Some(eq) = self.rest().find('=') else {
                    self.fail();
                    break;
                };
                let key = self.rest()[..eq].trim().to_owned();
                self.at += eq + 1;
                let value = self.value();
                map.insert(key, value);
                if !self.eat(", ") && !self.rest().starts_with('}') {
                    self.fail();
                    break;
                }
            }
            return Value::Object(map);
        }
        if self.eat("[") {
            let mut items = Vec::new();
            while !self.eat("]") {
                items.push(self.value());
                if !self.eat(", ") && !self.rest().starts_with(']') {
                    self.fail();
                    break;
                }
            }
            return Value::Array(items);
        }
        let end = self
            .rest()
            .find([',', '}', ']'])
            .unwrap_or(self.rest().len());
        let scalar = self.rest()[..end].to_owned();
        self.at += end;
        if scalar == "null" {
            Value::Null
        } else {
            Value::String(scalar)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_follow_rfc_4180() {
        let text = "\"a\",\"b\"\n\"1\",\"x, \"\"quoted\"\"\"\n\n\"2\",\"two\nlines\"\r\n3,plain\n";
        let rows: Vec<_> = CsvRows::new(text).collect();
        assert_eq!(
            rows,
            vec![
                Ok((1, vec!["a".to_owned(), "b".to_owned()])),
                Ok((2, vec!["1".to_owned(), "x, \"quoted\"".to_owned()])),
                Ok((4, vec!["2".to_owned(), "two\nlines".to_owned()])),
                Ok((6, vec!["3".to_owned(), "plain".to_owned()])),
            ]
        );
        let open: Vec<_> = CsvRows::new("\"a\"\n\"never closed\n").collect();
        assert_eq!(open.last(), Some(&Err(2)));
    }

    #[test]
    fn presto_text_of_rows_maps_and_arrays_is_read() {
        let identity = "{type=AssumedRole, principalid=AROAEXAMPLE:run, arn=arn:aws:sts::111122223333:assumed-role/job/run, accountid=111122223333, invokedby=null, sessioncontext={attributes={mfaauthenticated=false, creationdate=2026-11-20T06:59:00Z}, sessionissuer={type=Role, arn=arn:aws:iam::111122223333:role/ops/job}}}";
        let v = camel_identity(structured(identity));
        assert_eq!(v["type"], "AssumedRole");
        assert_eq!(v["invokedBy"], Value::Null);
        assert_eq!(
            v["sessionContext"]["sessionIssuer"]["arn"],
            "arn:aws:iam::111122223333:role/ops/job"
        );
        let resources = structured("[{arn=arn:aws:kms:eu-west-1:111122223333:key/k1, accountid=111122223333, type=AWS::KMS::Key}]");
        assert_eq!(
            resources[0]["arn"],
            "arn:aws:kms:eu-west-1:111122223333:key/k1"
        );
        assert_eq!(
            structured(r#"{"keyId": "k", "constraints": "{\"a\": 1}"}"#)["constraints"]["a"],
            1
        );
        assert_eq!(structured("not {json"), Value::String("not {json".into()));
        for broken in ["{a=1,b=2}", "{a=1", "[x, y", "{noequals}"] {
            assert_eq!(
                structured(broken),
                Value::String(broken.into()),
                "{broken} is kept as text"
            );
        }
    }

    #[test]
    fn times_of_both_engines_become_rfc3339() {
        assert_eq!(
            rfc3339("2026-11-20 07:00:05.000"),
            "2026-11-20T07:00:05.000Z"
        );
        assert_eq!(rfc3339("2026-11-20T07:00:05Z"), "2026-11-20T07:00:05Z");
        assert_eq!(
            rfc3339("2026-11-20T07:00:05+01:00"),
            "2026-11-20T07:00:05+01:00"
        );
    }
}
