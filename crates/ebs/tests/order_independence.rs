//! The findings do not depend on the order the files are read in, nor on
//! how they are grouped for parallel reading: every permutation of the
//! whole sample folder, merged in any grouping, gives the same report.

use proptest::prelude::*;
use start_doctor_ebs::read::read_document;
use start_doctor_ebs::{diagnose, render, Collected, Options};
use start_doctor_testkit::fixtures::ebs_scenario_names;

use crate::common::{scenario, File};

fn all_files() -> Vec<File> {
    ebs_scenario_names()
        .iter()
        .flat_map(|n| scenario(n))
        .collect()
}

/// Reads the files in the given order, split into `groups` collections
/// merged at the end (as the CLI's parallel reading does).
fn report(files: &[File], order: &[usize], groups: usize) -> String {
    let mut collections: Vec<Collected> =
        (0..groups.max(1)).map(|_| Collected::default()).collect();
    for (n, &i) in order.iter().enumerate() {
        let doc = read_document(&files[i].bytes).unwrap();
        let slot = n % collections.len();
        collections[slot].add(doc);
    }
    let mut all = Collected::default();
    for c in collections.into_iter().rev() {
        all.merge(c);
    }
    render::json::render(&diagnose(&all.finish(), &Options::default()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_order_and_grouping_gives_the_same_report(seed in any::<u64>(), groups in 1usize..5) {
        let files = all_files();
        let reference = report(&files, &(0..files.len()).collect::<Vec<_>>(), 1);
        // A permutation drawn from the seed (Fisher-Yates with a small LCG).
        let mut order: Vec<usize> = (0..files.len()).collect();
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (state >> 33) as usize % (i + 1);
            order.swap(i, j);
        }
        prop_assert_eq!(report(&files, &order, groups), reference);
    }
}
