#!/usr/bin/env bash
# Runs one fuzz target with libFuzzer on the stable toolchain (what `cargo fuzz run -s none`
# does, without cargo-fuzz): SanitizerCoverage instrumentation, no sanitizer.
#   fuzz/run.sh <target> [seconds] [max_len]
#   targets: irc_line eventsub_json config_yaml moderation_normalize console_body twitch_answer
#            moderation_pipeline script_host
# Targets fed chat lines or HTTP bodies get inputs up to 65,600 bytes by default, room for one
# 64 KiB chat line; script_host's input only picks calls, so it stays short.
# New inputs go to fuzz/corpus/<target>/ (only small, interesting ones are committed); a crash
# is written to fuzz/artifacts/<target>/ — copy it to fuzz/regressions/<target>/ so
# tests/fuzz_regressions.rs replays it in every `cargo test`.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?target name}"
seconds="${2:-600}"
case "$target" in
  config_yaml | script_host) default_len=4096 ;;
  *) default_len=65600 ;;
esac
max_len="${3:-$default_len}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/twitch-bot-fuzz-target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation off build scripts and proc macros.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --target "$triple" --bin "$target"
mkdir -p "corpus/$target" "artifacts/$target" "regressions/$target"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=1024 \
  -artifact_prefix="artifacts/$target/" -print_final_stats=1 "$work" "corpus/$target"
