//! Clean messages pass moderation without allocating: a counting global allocator watches a
//! warmed-up moderator check thousands of ordinary messages through every filter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use twitch_bot::moderation::{Moderator, Verdict};

#[path = "../benches/support/corpus.rs"]
mod corpus;

thread_local! {
    /// Allocations made by this thread (other test threads do not disturb the count).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)] // a counting allocator needs it; the crate denies unsafe elsewhere
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as for `realloc` on the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn clean_messages_are_checked_without_allocating() {
    let mut m = Moderator::new(&corpus::config()).expect("moderator");
    let set: HashSet<String> = (0..500).map(|i| format!("emote{i}")).collect();
    m.set_emotes(Arc::new(move |w: &str| set.contains(w)));
    let msgs = corpus::messages(4_000, 50);
    let start = Instant::now();
    // Warm up: each chatter's history buffers and the regex cache are made once.
    for (i, msg) in msgs.iter().take(1_000).enumerate() {
        let now = start + Duration::from_millis(200 * i as u64);
        assert_eq!(m.check(msg, now), Verdict::Pass, "{:?}", msg.text);
    }
    let before = allocs();
    for (i, msg) in msgs.iter().enumerate().skip(1_000) {
        let now = start + Duration::from_millis(200 * i as u64);
        let v = m.check(msg, now);
        assert!(matches!(v, Verdict::Pass));
    }
    let during = allocs() - before;
    assert_eq!(during, 0, "{during} allocations for 3,000 clean messages");

    // The counter does count: a disguised word takes the normalising path and allocates.
    let mut dirty = msgs[0].clone();
    dirty.text = "h\u{430}llo".into();
    let before = allocs();
    let _ = m.check(&dirty, start + Duration::from_secs(10_000));
    assert!(allocs() > before);
}
