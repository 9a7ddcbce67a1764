//! Reading a scenario folder of `events/flows/` through the library, as the
//! CLI does: every JSON document first (configuration, log events), then
//! the flow-log text with the formats the configuration named.

use std::fs;
use std::path::{Path, PathBuf};

use start_doctor_flows::config::{Config, ConfigPart};
use start_doctor_flows::read::json::{read_json, LogEvents};
use start_doctor_flows::read::text::read_text;
use start_doctor_flows::read::{content, is_gzip, Content};
use start_doctor_flows::traffic::{Traffic, Window};
use start_doctor_flows::{diagnose, Options, Report};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_none_or(|e| e != "md") {
            out.push(path);
        }
    }
}

/// The configuration and traffic of a folder (every file must read).
pub fn read_folder(folder: &Path) -> (Config, Traffic) {
    let mut paths = Vec::new();
    files(folder, &mut paths);
    let mut part = ConfigPart::default();
    let mut events: Vec<LogEvents> = Vec::new();
    let mut texts = Vec::new();
    for path in paths {
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let head = if is_gzip(&bytes) {
            let mut plain = Vec::new();
            let _ = std::io::Read::read_to_end(
                &mut std::io::Read::take(flate2::read::MultiGzDecoder::new(&bytes[..]), 4096),
                &mut plain,
            );
            plain
        } else {
            bytes.clone()
        };
        match content(&head) {
            Content::Json => {
                let document =
                    read_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                part.extend(document.config);
                events.extend(document.events);
            }
            Content::Text => texts.push((path, bytes)),
            Content::Empty => {}
        }
    }
    let config = Config::build(part);
    assert!(
        config.warnings.is_empty(),
        "{}: {:?}",
        folder.display(),
        config.warnings
    );
    let formats = config.formats();
    let mut traffic = Traffic::new(Window::default());
    for (path, bytes) in texts {
        let summary = read_text(&bytes[..], &formats, &mut traffic)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            summary.problems.is_empty(),
            "{}: {:?}",
            path.display(),
            summary.problems
        );
    }
    for e in &events {
        let (_, problems) = e.read(&formats, &mut traffic);
        assert!(problems.is_empty(), "{}: {:?}", folder.display(), problems);
    }
    (config, traffic)
}

/// Diagnoses a scenario of `events/flows/`.
pub fn diagnose_scenario(name: &str, options: &Options) -> Report {
    let (config, traffic) = read_folder(&repo().join("events/flows").join(name));
    diagnose(&config, &traffic, options)
}
