#!/usr/bin/env python3
"""Runs `start-doctor query --engine athena` SQL on DuckDB over a CloudTrail
archive loaded into a table shaped like the Athena User Guide's CloudTrail
table (partition projection), and writes what the engines would hand back:
an Athena CSV result and a CloudTrail Lake GetQueryResults document.

Usage: python3 scripts/query-check.py SQL_FILE ARCHIVE_DIR OUT_CSV OUT_LAKE_JSON

The SQL is run as start-doctor prints it, except for these differences
between Athena (Trino) and DuckDB, bridged here and nowhere else:
  - from_iso8601_timestamp(s)  -> a DuckDB macro: CAST(s AS TIMESTAMPTZ)
  - array_join(list, sep)      -> a DuckDB macro: array_to_string(list, sep)
  - transform(list, r -> e)    -> list_transform(list, r -> e), with
                                  lambda_syntax = 'ENABLE_SINGLE_ARROW'
  - the table's struct columns are DuckDB STRUCTs (same field names, same
    dotted access); requestparameters / responseelements are VARCHAR JSON
    text, as Athena's JsonSerDe leaves them; "timestamp" is the delivery day
    (yyyy/MM/dd) taken from the object's folder, as partition projection
    computes it.
Lake rows are written from the same result (Lake SQL cannot run locally):
eventtime as Lake prints timestamps ('yyyy-MM-dd HH:mm:ss.SSS'), every
value a string, each row a list of one-entry {column: value} maps.
"""
import csv
import gzip
import io
import json
import pathlib
import re
import sys

import duckdb

IDENTITY = (
    "STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, "
    "invokedby VARCHAR, accesskeyid VARCHAR, username VARCHAR, "
    "sessioncontext STRUCT(attributes STRUCT(mfaauthenticated VARCHAR, creationdate VARCHAR), "
    "sessionissuer STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR)))"
)
COLUMNS = [
    ("eventversion", "VARCHAR"),
    ("useridentity", IDENTITY),
    ("eventtime", "VARCHAR"),
    ("eventsource", "VARCHAR"),
    ("eventname", "VARCHAR"),
    ("awsregion", "VARCHAR"),
    ("sourceipaddress", "VARCHAR"),
    ("useragent", "VARCHAR"),
    ("errorcode", "VARCHAR"),
    ("errormessage", "VARCHAR"),
    ("requestparameters", "VARCHAR"),
    ("responseelements", "VARCHAR"),
    ("requestid", "VARCHAR"),
    ("eventid", "VARCHAR"),
    ("readonly", "VARCHAR"),
    ("resources", "STRUCT(arn VARCHAR, accountid VARCHAR, type VARCHAR)[]"),
    ("recipientaccountid", "VARCHAR"),
    ("timestamp", "VARCHAR"),
    ("account", "VARCHAR"),
    ("region", "VARCHAR"),
]
LAYOUT = re.compile(r"AWSLogs/(?:o-[^/]+/)?(\d{12})/CloudTrail/([^/]+)/(\d{4}/\d{2}/\d{2})/")


def lower_keys(value):
    if isinstance(value, dict):
        return {k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def identity(raw):
    if not raw:
        return None
    raw = lower_keys(raw)
    context = raw.get("sessioncontext") or {}
    issuer = context.get("sessionissuer") or {}
    attributes = context.get("attributes") or {}
    text = lambda v: None if v is None else str(v)
    return {
        **{k: text(raw.get(k)) for k in ("type", "principalid", "arn", "accountid", "invokedby", "accesskeyid", "username")},
        "sessioncontext": {
            "attributes": {k: text(attributes.get(k)) for k in ("mfaauthenticated", "creationdate")},
            "sessionissuer": {k: text(issuer.get(k)) for k in ("type", "principalid", "arn", "accountid", "username")},
        },
    }


def rows_of(archive):
    for path in sorted(pathlib.Path(archive).rglob("*.json.gz")):
        match = LAYOUT.search(path.as_posix())
        if not match:
            continue
        account, region, day = match.groups()
        for r in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            as_json = lambda v: None if v is None else json.dumps(v)
            yield (
                r.get("eventVersion"), identity(r.get("userIdentity")), r.get("eventTime"),
                r.get("eventSource"), r.get("eventName"), r.get("awsRegion"),
                r.get("sourceIPAddress"), r.get("userAgent"), r.get("errorCode"),
                r.get("errorMessage"), as_json(r.get("requestParameters")),
                as_json(r.get("responseElements")), r.get("requestID"), r.get("eventID"),
                None if r.get("readOnly") is None else str(r.get("readOnly")).lower(),
                [{"arn": x.get("ARN"), "accountid": x.get("accountId"), "type": x.get("type")} for x in r.get("resources") or []],
                r.get("recipientAccountId"), day, account, region,
            )


def main(sql_file, archive, out_csv, out_lake):
    sql = pathlib.Path(sql_file).read_text()
    con = duckdb.connect()
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
    con.execute("CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
    con.execute("CREATE MACRO array_join(l, sep) AS array_to_string(l, sep)")
    table = re.search(r"\nFROM (\S+)\n", sql).group(1)
    if "." in table:
        con.execute(f"CREATE SCHEMA {table.split('.')[0]}")
    columns = ", ".join(f'"{n}" {t}' for n, t in COLUMNS)
    con.execute(f"CREATE TABLE {table} ({columns})")
    rows = list(rows_of(archive))
    con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    result = con.execute(sql.replace("transform(", "list_transform("))
    names = [d[0] for d in result.description]
    found = result.fetchall()

    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(names)
    for row in found:
        # Athena writes NULL as an empty field.
        writer.writerow(["" if v is None else v for v in row])
    pathlib.Path(out_csv).write_text(out.getvalue())

    def lake_value(name, v):
        if name == "eventtime":
            return v.replace("T", " ").replace("Z", ".000")
        return v

    lake = {
        "QueryStatus": "FINISHED",
        "QueryStatistics": {"ResultsCount": len(found), "TotalResultsCount": len(found)},
        "QueryResultRows": [
            [{n: lake_value(n, v)} for n, v in zip(names, row) if v is not None] for row in found
        ],
    }
    pathlib.Path(out_lake).write_text(json.dumps(lake, indent=1) + "\n")
    print(f"{len(rows)} records loaded, {len(found)} selected", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
