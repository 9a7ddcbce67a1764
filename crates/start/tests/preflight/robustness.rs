//! Preflight never panics: every sample file cut short, or with its
//! policy documents mangled, is read and checked without a panic.

use std::fs;

use start_doctor_start::evidence::EvidenceSet;
use start_doctor_start::ids::PrincipalArn;
use start_doctor_start::preflight::preflight;
use start_doctor_start::read_document;
use start_doctor_testkit::fixtures::scenario_files;

#[test]
fn cut_and_mangled_sample_files_never_panic() {
    let principal =
        PrincipalArn::parse("arn:aws:iam::111122223333:role/ops/nightly-scheduler").unwrap();
    let files: Vec<Vec<u8>> = scenario_files("preflight")
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    let mut checked = 0;
    for (n, bytes) in files.iter().enumerate() {
        let text = String::from_utf8_lossy(bytes);
        let mangled = [
            text.replace("\"Allow\"", "\"Deny\""),
            text.replace("\"Statement\"", "\"Statements\""),
            text.replace("kms:", "kms"),
            text.replace("\"Enabled\"", "\"Updating\""),
        ];
        let cuts = (1..8).map(|k| bytes[..bytes.len() * k / 8].to_vec());
        for variant in cuts.chain(mangled.into_iter().map(String::into_bytes)) {
            let mut set: EvidenceSet = files
                .iter()
                .enumerate()
                .filter(|(m, _)| *m != n)
                .filter_map(|(_, b)| read_document(b).ok())
                .flat_map(|d| d.evidence)
                .collect();
            if let Ok(doc) = read_document(&variant) {
                set.extend(doc.evidence);
            }
            let report = preflight(&set, std::slice::from_ref(&principal));
            checked += report.checks.len();
        }
    }
    assert!(checked > 0, "the variants were checked");
}
