#!/usr/bin/env python3
"""Runs `start-doctor query --doctor flows --engine athena` SQL on DuckDB over
a flow-log S3 archive loaded into a table shaped like the Athena User
Guide's VPC flow-log table with partition projection (columns `version` ...
`traffic_path`, partitions `accid`, `region`, `day`), and writes what Athena
would hand back: a CSV result with a quoted header and every field quoted,
NULL as an empty field.

Usage: python3 scripts/flows-query-check.py SQL_FILE ARCHIVE_DIR OUT_CSV

The table is loaded as Athena's LazySimpleSerDe reads the text files: each
file's header line names its fields (a table defined for that format puts
each in its column; the header itself is skipped, `skip.header.line.count`),
string columns keep `-`, integer columns read `-` as NULL; `accid`,
`region` and `day` come from the object's path
(AWSLogs/<accid>/vpcflowlogs/<region>/yyyy/mm/dd/), as partition projection
computes them. The SQL runs as start-doctor prints it: no dialect bridge is
needed.
"""
import csv
import gzip
import pathlib
import re
import sys

import duckdb

COLUMNS = [
    ("version", "INTEGER"), ("account_id", "VARCHAR"), ("interface_id", "VARCHAR"), ("srcaddr", "VARCHAR"),
    ("dstaddr", "VARCHAR"), ("srcport", "INTEGER"), ("dstport", "INTEGER"), ("protocol", "BIGINT"),
    ("packets", "BIGINT"), ("bytes", "BIGINT"), ("start", "BIGINT"), ("end", "BIGINT"), ("action", "VARCHAR"),
    ("log_status", "VARCHAR"), ("vpc_id", "VARCHAR"), ("subnet_id", "VARCHAR"), ("instance_id", "VARCHAR"),
    ("tcp_flags", "INTEGER"), ("type", "VARCHAR"), ("pkt_srcaddr", "VARCHAR"), ("pkt_dstaddr", "VARCHAR"),
    ("az_id", "VARCHAR"), ("sublocation_type", "VARCHAR"), ("sublocation_id", "VARCHAR"),
    ("pkt_src_aws_service", "VARCHAR"), ("pkt_dst_aws_service", "VARCHAR"), ("flow_direction", "VARCHAR"),
    ("traffic_path", "INTEGER"),
]
PARTITIONS = [("accid", "VARCHAR"), ("region", "VARCHAR"), ("day", "VARCHAR")]
LAYOUT = re.compile(r"AWSLogs/(\d{12})/vpcflowlogs/([^/]+)/(\d{4}/\d{2}/\d{2})/")


def rows(archive):
    names = [c for c, _ in COLUMNS]
    types = dict(COLUMNS)
    for path in sorted(pathlib.Path(archive).rglob("*")):
        m = LAYOUT.search(path.as_posix())
        if not m or not path.is_file():
            continue
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
        fields = None
        for line in text.splitlines():
            tokens = line.split()
            if not tokens:
                continue
            if all(not t[0].isdigit() and "." not in t for t in tokens) and "srcaddr" in tokens:
                fields = [t.replace("-", "_") for t in tokens]
                continue
            record = dict(zip(fields, tokens))
            row = []
            for name in names:
                value = record.get(name)
                if types[name] != "VARCHAR":
                    value = None if value in (None, "-") else int(value)
                row.append(value)
            yield row + [m.group(1), m.group(2), m.group(3)]


def main():
    sql_file, archive, out_csv = sys.argv[1:4]
    db = duckdb.connect()
    schema = ", ".join(f'"{n}" {t}' for n, t in COLUMNS + PARTITIONS)
    db.execute(f"CREATE TABLE vpc_flow_logs ({schema})")
    loaded = list(rows(archive))
    placeholders = ", ".join("?" for _ in COLUMNS + PARTITIONS)
    db.executemany(f"INSERT INTO vpc_flow_logs VALUES ({placeholders})", loaded)
    result = db.execute(pathlib.Path(sql_file).read_text())
    header = [d[0] for d in result.description]
    selected = result.fetchall()
    with open(out_csv, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        for row in selected:
            writer.writerow(["" if v is None else v for v in row])
    print(f"{len(loaded)} loaded, {len(selected)} selected", file=sys.stderr)


if __name__ == "__main__":
    main()
