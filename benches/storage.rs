//! Storage figures: per-message accounting cost, a watch-time tick for 10,000 present viewers,
//! and the process memory with 100,000 viewers in the database.
//!
//! Run: `cargo bench --bench storage`. The memory phase runs in a fresh child process (this
//! binary again) so the figure is what a bot opening a 100,000-viewer database costs, not what
//! building that database left behind.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use twitch_bot::event::Roles;
use twitch_bot::loyalty::{Loyalty, LoyaltyRules, TickOutcome};
use twitch_bot::storage::{Storage, StorageOptions, WatchCredit};

const CHILD_ENV: &str = "TB_BENCH_STORAGE_CHILD_DIR";
const USERS: usize = 100_000;
const PRESENT: usize = 10_000;

fn opts(dir: &Path) -> StorageOptions {
    let mut o = StorageOptions::new(dir);
    o.backup_on_open = false;
    // TB_BENCH_CACHE_MB tries other page-cache sizes than the default.
    if let Some(mb) = std::env::var("TB_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        o.cache_bytes = mb * 1024 * 1024;
    }
    o
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Nanoseconds this thread has run on a CPU (separates our work from waiting for a busy
/// machine's cores).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn populate(storage: &Storage) {
    for chunk in 0..USERS / PRESENT {
        let credits: Vec<WatchCredit> = (0..PRESENT)
            .map(|i| {
                let n = chunk * PRESENT + i;
                WatchCredit {
                    user_id: format!("{}", 10_000_000 + n),
                    login: format!("viewer_{n}"),
                    display_name: format!("Viewer_{n}"),
                    points: (n % 977) as u64,
                    secs: 600,
                }
            })
            .collect();
        storage
            .credit_watch(&credits, "bench seed")
            .expect("seed commit");
    }
}

/// One tick for `PRESENT` viewers (every tenth a subscriber), timed from the moment the tick
/// starts until its transaction is durable.
fn timed_tick(storage: &Storage, loyalty: &Loyalty, offset: usize) -> (Duration, Duration) {
    for i in 0..PRESENT {
        let n = (offset + i * 7) % USERS;
        let roles = if i % 10 == 0 {
            Roles::SUBSCRIBER
        } else {
            Roles::empty()
        };
        loyalty.note_present(
            &format!("{}", 10_000_000 + n),
            &format!("viewer_{n}"),
            &format!("Viewer_{n}"),
            roles,
        );
    }
    let t = Instant::now();
    let cpu = thread_cpu_ns();
    let out = loyalty.tick(storage).expect("tick");
    let took = t.elapsed();
    let cpu = Duration::from_nanos(thread_cpu_ns().saturating_sub(cpu));
    assert!(matches!(out, TickOutcome::Paid(s) if s.credited == PRESENT));
    (took, cpu)
}

fn child(dir: &str) {
    let storage = Storage::open(opts(Path::new(dir))).expect("open");
    let loyalty = Loyalty::new(LoyaltyRules::default());
    loyalty.set_live(true);
    let mut ticks = Vec::new();
    let mut cpu = Vec::new();
    for round in 0..5 {
        let (wall, on_cpu) = timed_tick(&storage, &loyalty, round * 1_234);
        ticks.push(wall);
        cpu.push(on_cpu);
    }
    cpu.sort();
    // Chat from 5,000 distinct viewers, leaderboards, look-ups: a busy stream's working set.
    for i in 0..200_000usize {
        let n = i % 5_000;
        storage.record_chat(&format!("{}", 10_000_000 + n), "viewer", "Viewer");
    }
    storage.flush().expect("flush");
    let t = Instant::now();
    for _ in 0..20 {
        black_box(storage.leaderboard(10).expect("leaderboard"));
    }
    let board_ms = t.elapsed().as_secs_f64() * 1e3 / 20.0;
    for n in (0..USERS).step_by(97) {
        black_box(storage.get(&format!("{}", 10_000_000 + n)).expect("get"));
    }
    ticks.sort();
    println!(
        "CHILD users={} tick_ms_min={:.1} tick_ms_median={:.1} tick_ms_max={:.1} \
         tick_cpu_ms_median={:.1} leaderboard_ms={board_ms:.1} VmRSS_kB={} VmHWM_kB={}",
        storage.user_count().unwrap_or(0),
        ticks[0].as_secs_f64() * 1e3,
        ticks[ticks.len() / 2].as_secs_f64() * 1e3,
        ticks[ticks.len() - 1].as_secs_f64() * 1e3,
        cpu[cpu.len() / 2].as_secs_f64() * 1e3,
        status_kb("VmRSS:"),
        status_kb("VmHWM:"),
    );
    storage.close().expect("close");
}

fn record_chat_bench(storage: &Storage) {
    // 1,000 distinct chatters, ids pre-built: what the chat path passes in from a parsed line.
    let ids: Vec<(String, String)> = (0..1_000)
        .map(|i| (format!("{}", 20_000_000 + i), format!("chatter_{i}")))
        .collect();
    let n = 2_000_000usize;
    let t = Instant::now();
    for i in 0..n {
        let (id, login) = &ids[i % ids.len()];
        storage.record_chat(black_box(id), black_box(login), black_box(login));
    }
    let per = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "record_chat: {per:.0} ns per message ({n} messages, 1,000 chatters, flusher running)"
    );
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(opts(dir.path())).expect("open");
    record_chat_bench(&storage);
    let t = Instant::now();
    populate(&storage);
    println!(
        "seeded {USERS} viewers in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    storage.close().expect("close");
    drop(storage);
    let size = std::fs::metadata(dir.path().join("bot.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("database file: {:.1} MB", size as f64 / 1e6);

    let out = Command::new(std::env::current_exe().expect("exe"))
        .env(CHILD_ENV, dir.path())
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| l.starts_with("CHILD")) {
        println!("{}", line.trim_start_matches("CHILD "));
    }
    if !out.status.success() {
        eprintln!("child failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
}
