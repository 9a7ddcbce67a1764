//! Property: the order of the input and redelivered events never change the
//! diagnoses.

use proptest::prelude::*;
use start_doctor_start::{Evidence, EvidenceSet};

/// The evidence of several scenarios at once, so that failures, successes,
/// noise and describe output are mixed.
fn corpus() -> Vec<Evidence> {
    [
        "seed-story",
        "kms-key-disabled",
        "normal-stops",
        "insufficient-capacity",
        "lookup-events",
        "noise",
        "history-then-unexplained",
        "multiple-keys-denied",
        "autoscaling-launch-denied",
        "untrusted-kms-records",
        "ec2-infrastructure-decrypt",
        "eventversion-1-11-role-path",
    ]
    .iter()
    .flat_map(|name| start_doctor_testkit::fixtures::scenario_evidence(name))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn shuffling_and_duplicating_changes_nothing(
        seed in any::<u64>(),
        duplicates in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let items = corpus();
        let baseline = start_doctor_start::diagnose(&items.iter().cloned().collect::<EvidenceSet>());
        prop_assert!(!baseline.is_empty());

        let mut shuffled = items.clone();
        shuffled.extend(duplicates.iter().map(|i| items[i.index(items.len())].clone()));
        // A seeded Fisher-Yates shuffle keeps the case reproducible.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let again = start_doctor_start::diagnose(&shuffled.into_iter().collect::<EvidenceSet>());
        prop_assert_eq!(again, baseline);
    }
}
