//! The fuzz targets' inputs replayed in every `cargo test`: the committed seed corpora
//! (`fuzz/corpus/<target>/`), every crash the fuzzer ever found (`fuzz/regressions/<target>/`),
//! and property tests that mutate the seeds the way the fuzzer would.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use twitch_bot::fuzzing;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("irc_line", fuzzing::irc_line),
    ("eventsub_json", fuzzing::eventsub_json),
    ("config_yaml", fuzzing::config_yaml),
    ("moderation_normalize", fuzzing::moderation_normalize),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo")).join("fuzz")
}

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != ".keep"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable input");
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_seed_and_every_past_crash_is_handled() {
    let mut seeds = 0;
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} has seeds");
        seeds += corpus.len();
        for (path, bytes) in corpus
            .iter()
            .chain(inputs(&fuzz_dir().join("regressions").join(name)).iter())
        {
            let outcome = std::panic::catch_unwind(|| target(bytes));
            assert!(outcome.is_ok(), "{} panics", path.display());
        }
    }
    assert!(seeds >= 30, "{seeds} seeds");
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    inputs(&fuzz_dir().join("corpus").join(name))
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// A seed with a few byte-level edits: flips, inserts, deletions, as a mutating fuzzer makes.
fn mutated(name: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let all = seeds(name);
    (
        proptest::sample::select(all),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    )
        .prop_map(|(mut bytes, edits)| {
            for (at, b, op) in edits {
                if bytes.is_empty() {
                    bytes.push(b);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    2 => {
                        bytes.remove(i);
                    }
                    _ => bytes.truncate(i),
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_eventsub_frames_never_panic(bytes in mutated("eventsub_json")) {
        fuzzing::eventsub_json(&bytes);
    }

    #[test]
    fn mutated_configs_never_panic(bytes in mutated("config_yaml")) {
        fuzzing::config_yaml(&bytes);
    }

    #[test]
    fn mutated_chat_never_panics_the_normaliser(bytes in mutated("moderation_normalize")) {
        fuzzing::moderation_normalize(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_the_normaliser(text in any::<String>()) {
        fuzzing::moderation_normalize(text.as_bytes());
    }

    #[test]
    fn mutated_irc_lines_never_panic(bytes in mutated("irc_line")) {
        fuzzing::irc_line(&bytes);
    }
}
