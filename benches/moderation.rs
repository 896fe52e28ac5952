//! Moderation throughput: clean chat through every filter with 1,000 banned terms, 20
//! regexes and 500 third-party emotes, on one thread.
//! Run with `taskset -c 0 cargo bench --bench moderation`.
//!
//! Also counts allocations per message (a counting global allocator) and measures the
//! normalising path on messages full of lookalikes, for comparison.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as WallClock};

use tokio::time::Instant;
use twitch_bot::moderation::{Moderator, Verdict};

#[path = "support/corpus.rs"]
mod corpus;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)] // a counting allocator needs it; the crate denies unsafe elsewhere
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `realloc` on the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// This thread's CPU time (user + system) from `/proc/thread-self/stat`, in seconds, so the
/// figure holds on a machine shared with other work. Ticks are Linux's usual 100 per second.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Checks every message `rounds` times; returns (messages, caught, wall seconds, CPU seconds,
/// allocations).
fn run(
    m: &mut Moderator,
    msgs: &[twitch_bot::event::ChatMessage],
    rounds: usize,
    start: Instant,
    tick: &mut u64,
) -> (u64, u64, f64, f64, u64) {
    let mut caught = 0u64;
    let mut n = 0u64;
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let cpu0 = thread_cpu_secs();
    let t0 = WallClock::now();
    for _ in 0..rounds {
        for msg in msgs {
            // Virtual time: 10 ms apart, so 1,000 chatters each speak every 10 s.
            *tick += 1;
            let now = start + Duration::from_millis(*tick * 10);
            if !matches!(black_box(m.check(black_box(msg), now)), Verdict::Pass) {
                caught += 1;
            }
            n += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu0.zip(thread_cpu_secs()).map_or(f64::NAN, |(a, b)| b - a);
    (n, caught, secs, cpu, ALLOCS.load(Ordering::Relaxed) - a0)
}

fn main() {
    let cfg = corpus::config();
    let mut m = Moderator::new(&cfg).expect("moderator");
    // A channel's third-party emotes, as the Helix side would supply them.
    let set: HashSet<String> = (0..500)
        .map(|i| format!("emote{i}"))
        .chain(["catJAM".into()])
        .collect();
    m.set_emotes(Arc::new(move |w: &str| set.contains(w)));
    let msgs = corpus::messages(100_000, 1_000);
    let start = Instant::now();
    let mut tick = 0;
    // Warm up: every chatter's history and the regex caches.
    let _ = run(&mut m, &msgs, 1, start, &mut tick);
    let (n, caught, secs, cpu, allocs) = run(&mut m, &msgs, 20, start, &mut tick);
    println!(
        "clean: {n} messages in {secs:.3} s = {:.0} messages/s ({:.0} per CPU second), \
         {caught} caught, {:.4} allocations/message",
        n as f64 / secs,
        n as f64 / cpu,
        allocs as f64 / n as f64
    );

    // The normalising path: Cyrillic lookalikes, fullwidth letters, zero-width spaces.
    let mut dirty = corpus::messages(10_000, 1_000);
    for (i, msg) in dirty.iter_mut().enumerate() {
        msg.text = match i % 3 {
            0 => "h\u{435}llo ch\u{430}t how is everyone".to_owned(),
            1 => "\u{ff47}\u{ff47} well played".to_owned(),
            _ => "nice\u{200b} play s o good".to_owned(),
        };
    }
    let (n, caught, secs, cpu, allocs) = run(&mut m, &dirty, 10, start, &mut tick);
    println!(
        "normalising: {n} messages in {secs:.3} s = {:.0} messages/s ({:.0} per CPU second), \
         {caught} caught, {:.1} allocations/message",
        n as f64 / secs,
        n as f64 / cpu,
        allocs as f64 / n as f64
    );
}
