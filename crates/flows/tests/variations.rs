//! The same facts in the other shapes AWS and people hand them over in:
//! records in another order, split into many files or joined into one,
//! columns in another order, plain or gzip, CRLF and a BOM, `describe-*`
//! output in pages, in one array or as JSON Lines, NODATA and SKIPDATA
//! records between them, and every input given twice. The diagnosis must
//! not change (only the counts, for inputs read twice).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use start_doctor_flows::{diagnose, Options, Report};
use tempfile::TempDir;

use crate::support::{read_folder, repo};

/// Scenarios whose records are text files.
const TEXT_SCENARIOS: &[&str] = &[
    "seed-story",
    "tgw-flow-logs",
    "nacl-outbound-deny",
    "nacl-return-traffic-deny",
    "security-group-no-allow",
    "noise-late-close",
    "mixed-versions",
    "ipv6",
    "ping-reply-denied",
];

/// Every scenario.
const ALL_SCENARIOS: &[&str] = &[
    "seed-story",
    "tgw-flow-logs",
    "nacl-inbound-deny",
    "nacl-outbound-deny",
    "nacl-return-traffic-deny",
    "security-group-no-allow",
    "block-public-access",
    "unexplained",
    "noise-scan",
    "noise-late-close",
    "mixed-versions",
    "ipv6",
    "ping-reply-denied",
];

fn scenario(name: &str) -> PathBuf {
    repo().join("events/flows").join(name)
}

fn report_of(folder: &Path) -> Value {
    let (config, traffic) = read_folder(folder);
    serde_json::to_value(diagnose(&config, &traffic, &Options::default())).expect("json")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read dir").filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn copy(name: &str) -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    let from = scenario(name);
    for path in files(&from) {
        let target = dir.path().join(path.strip_prefix(&from).expect("inside"));
        fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        fs::copy(&path, &target).expect("copy");
    }
    dir
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// The flow-log text files of a folder (not JSON), with their text.
fn text_files(dir: &Path) -> Vec<(PathBuf, String, bool)> {
    files(dir)
        .into_iter()
        .filter_map(|path| {
            let raw = fs::read(&path).expect("read");
            let gz = is_gzip(&raw);
            let plain = if gz { gunzip(&raw) } else { raw };
            let text = String::from_utf8(plain).expect("utf-8");
            (!text.trim_start().starts_with(['{', '['])).then_some((path, text, gz))
        })
        .collect()
}

/// A deterministic shuffle (a small linear congruential generator).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

fn is_header(line: &str) -> bool {
    line.split_whitespace().any(|t| t == "srcaddr")
        && line.split_whitespace().all(|t| !t.contains('.'))
}

/// Groups of lines: each header with the records after it (a file without
/// a header is one group with no header).
fn sections(text: &str) -> Vec<(Option<String>, Vec<String>)> {
    let mut out: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if is_header(line) {
            out.push((Some(line.to_owned()), Vec::new()));
        } else {
            if out.is_empty() {
                out.push((None, Vec::new()));
            }
            if let Some(last) = out.last_mut() {
                last.1.push(line.to_owned());
            }
        }
    }
    out
}

fn join(sections: &[(Option<String>, Vec<String>)]) -> String {
    let mut out = String::new();
    for (header, lines) in sections {
        if let Some(h) = header {
            out.push_str(h);
            out.push('\n');
        }
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn write_text(path: &Path, text: &str, gz: bool) {
    let bytes = if gz {
        gzip(text.as_bytes())
    } else {
        text.as_bytes().to_vec()
    };
    fs::write(path, bytes).expect("write");
}

fn assert_same(name: &str, variant: &str, dir: &TempDir) {
    let want = report_of(&scenario(name));
    let got = report_of(dir.path());
    assert_eq!(
        got,
        want,
        "{name}, {variant}: the report changed\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
}

#[test]
fn records_in_any_order_give_the_same_report() {
    for name in TEXT_SCENARIOS {
        let dir = copy(name);
        for (i, (path, text, gz)) in text_files(dir.path()).into_iter().enumerate() {
            let mut parts = sections(&text);
            for (k, (_, lines)) in parts.iter_mut().enumerate() {
                shuffle(lines, 17 + i as u64 * 31 + k as u64);
            }
            write_text(&path, &join(&parts), gz);
        }
        assert_same(name, "records shuffled", &dir);
    }
}

#[test]
fn records_split_into_one_file_each_give_the_same_report() {
    for name in TEXT_SCENARIOS {
        let dir = copy(name);
        for (f, (path, text, gz)) in text_files(dir.path()).into_iter().enumerate() {
            fs::remove_file(&path).expect("remove");
            for (k, (header, lines)) in sections(&text).into_iter().enumerate() {
                for (n, line) in lines.into_iter().enumerate() {
                    let one = join(&[(header.clone(), vec![line])]);
                    let file = path.with_file_name(format!(
                        "part-{f}-{k}-{n}.log{}",
                        if gz { ".gz" } else { "" }
                    ));
                    write_text(&file, &one, gz);
                }
            }
        }
        assert_same(name, "one record per file", &dir);
    }
}

#[test]
fn columns_in_another_order_give_the_same_report() {
    for name in TEXT_SCENARIOS {
        let dir = copy(name);
        let mut changed = false;
        for (path, text, gz) in text_files(dir.path()) {
            let parts = sections(&text);
            if parts.iter().any(|(h, _)| h.is_none()) {
                continue;
            }
            let reversed: Vec<(Option<String>, Vec<String>)> = parts
                .into_iter()
                .map(|(header, lines)| {
                    let rev = |l: &str| l.split_whitespace().rev().collect::<Vec<_>>().join(" ");
                    (
                        header.map(|h| rev(&h)),
                        lines.iter().map(|l| rev(l)).collect(),
                    )
                })
                .collect();
            write_text(&path, &join(&reversed), gz);
            changed = true;
        }
        if changed {
            assert_same(name, "columns reversed", &dir);
        }
    }
}

#[test]
fn plain_or_gzip_crlf_and_a_bom_give_the_same_report() {
    for name in TEXT_SCENARIOS {
        let dir = copy(name);
        for (path, text, gz) in text_files(dir.path()) {
            let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
            fs::remove_file(&path).expect("remove");
            let other = if gz {
                path.with_extension("")
            } else {
                path.with_extension("log.gz")
            };
            write_text(&other, &crlf, !gz);
        }
        assert_same(name, "compression swapped, CRLF and BOM", &dir);
    }
}

#[test]
fn describe_output_in_pages_in_one_array_or_as_json_lines_gives_the_same_report() {
    for name in ALL_SCENARIOS {
        let dir = copy(name);
        let config = dir.path().join("config");
        let mut pages: Vec<Value> = Vec::new();
        for path in files(&config) {
            let value: Value =
                serde_json::from_str(&fs::read_to_string(&path).expect("read")).expect("json");
            fs::remove_file(&path).expect("remove");
            let Value::Object(map) = value else { continue };
            for (key, list) in map {
                match list {
                    // Two pages of one list, as --max-items / NextToken give.
                    Value::Array(items) if items.len() > 1 => {
                        let half = items.len() / 2;
                        pages.push(serde_json::json!({key.clone(): items[..half], "NextToken": "eyJuZXh0VG9rZW4iOiBudWxsfQ=="}));
                        pages.push(serde_json::json!({key: items[half..]}));
                    }
                    other => pages.push(serde_json::json!({key: other})),
                }
            }
        }
        shuffle(&mut pages, 99);
        let array = config.join("all.json");
        let (first, rest) = pages.split_at(pages.len() / 2);
        fs::write(
            &array,
            serde_json::to_string(&Value::Array(first.to_vec())).expect("json"),
        )
        .expect("write");
        let lines: Vec<String> = rest.iter().map(Value::to_string).collect();
        fs::write(config.join("all.jsonl"), lines.join("\n")).expect("write");
        assert_same(
            name,
            "describe output paginated, array and JSON Lines",
            &dir,
        );
    }
}

#[test]
fn nodata_and_skipdata_records_change_no_finding() {
    for name in ALL_SCENARIOS {
        let dir = copy(name);
        let mut lines = String::new();
        for k in 0..20 {
            lines.push_str(&format!(
                "2 111122223333 eni-0a1b2c3d4e5f6{:04x} - - - - - - - 1795158000 1795158059 - {}\n",
                k,
                if k % 2 == 0 { "NODATA" } else { "SKIPDATA" }
            ));
        }
        fs::write(dir.path().join("quiet-intervals.log"), lines).expect("write");
        assert_same(name, "NODATA and SKIPDATA records", &dir);
    }
}

/// The diagnosis of a report without its counts: what must not change
/// when inputs are read twice.
fn without_counts(report: &Report) -> Vec<Value> {
    report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "client": f.client, "server": f.server, "port": f.server_port, "leg": f.rejected_leg,
                "cause": f.cause, "control": f.control, "entry_azs": f.entry_azs,
                "fix": f.remediation.commands,
            })
        })
        .collect()
}

#[test]
fn inputs_given_twice_give_the_same_diagnosis_with_counts_doubled() {
    for name in ALL_SCENARIOS {
        let dir = TempDir::new().expect("temp dir");
        for copy_name in ["a", "b"] {
            let target = dir.path().join(copy_name);
            for path in files(&scenario(name)) {
                let to = target.join(path.strip_prefix(scenario(name)).expect("inside"));
                fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
                fs::copy(&path, &to).expect("copy");
            }
        }
        let (config, traffic) = read_folder(&scenario(name));
        let once = diagnose(&config, &traffic, &Options::default());
        let (config, traffic) = read_folder(dir.path());
        let twice = diagnose(&config, &traffic, &Options::default());
        assert_eq!(
            without_counts(&twice),
            without_counts(&once),
            "{name}: read twice"
        );
        for (a, b) in once.findings.iter().zip(&twice.findings) {
            assert_eq!(
                2 * a.rejected_records,
                b.rejected_records,
                "{name}: rejects counted per record read"
            );
        }
        assert_eq!(
            2 * once.noise.unsolicited,
            twice.noise.unsolicited,
            "{name}"
        );
    }
}
