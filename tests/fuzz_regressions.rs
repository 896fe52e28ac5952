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
    ("console_body", fuzzing::console_body),
    ("twitch_answer", fuzzing::twitch_answer),
    ("moderation_pipeline", fuzzing::moderation_pipeline),
    ("script_host", fuzzing::script_host),
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

    #[test]
    fn mutated_console_bodies_never_panic(bytes in mutated("console_body")) {
        fuzzing::console_body(&bytes);
    }

    #[test]
    fn mutated_twitch_answers_never_panic(bytes in mutated("twitch_answer")) {
        fuzzing::twitch_answer(&bytes);
    }

    #[test]
    fn mutated_chat_sequences_never_panic_the_moderator(bytes in mutated("moderation_pipeline")) {
        fuzzing::moderation_pipeline(&bytes);
    }
}

proptest! {
    // Each case compiles and runs a script: fewer cases keep the test quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_scripts_never_panic_the_host(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        fuzzing::script_host(&bytes);
    }
}

/// Every function in the script host's table is reached by some input and every call with its
/// declared argument kinds runs: a typo in the table would only ever produce "function not found".
#[test]
fn the_script_host_table_names_real_functions() {
    for n in 0..fuzzing::script_host_calls() {
        for arg in 0..16u8 {
            if let Err(e) = fuzzing::script_host_call(n, arg) {
                assert!(
                    !e.contains("Function not found"),
                    "call {n}, argument {arg}: {e}"
                );
            }
        }
    }
}
