//! Parser benchmark: lines/s for `IrcLine::parse` alone, parse + a walk over every tag, and
//! parse + `interpret` into an `Event`, over a corpus of realistic tagged PRIVMSG lines.
//!
//! Run: `cargo bench --bench irc_parse` (pin it with `taskset -c 0` for a one-core figure).
//! Plain `harness = false` with `std::time`: no extra dependencies, figures printed per run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use twitch_bot::event::Event;
use twitch_bot::twitch::irc::{Incoming, IrcLine, interpret};

/// A tiny deterministic generator (xorshift64*): the same corpus on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const WORDS: &[&str] = &[
    "lol", "that", "was", "insane", "gg", "what", "is", "this", "song", "chat", "pog", "no", "way",
    "he", "did", "it", "again", "first", "time", "here", "love", "the", "stream", "today", "why",
    "would", "you", "do", "that", "é", "naïve", "🎉", "LETSGO", "!ping", "bruh", "clip",
];
const EMOTES: &[(&str, &str)] = &[
    ("Kappa", "25"),
    ("PogChamp", "305954156"),
    ("LUL", "425618"),
    ("HeyGuys", "30259"),
    ("SeemsGood", "64138"),
    ("catJAM", "emotesv2_5d523adb8bbb4786821cd7091e47da21"),
];
const BADGE_SETS: &[(&str, &str)] = &[
    ("", ""),
    ("subscriber/12", "subscriber/14"),
    ("moderator/1,subscriber/24", "subscriber/25"),
    ("vip/1,subscriber/3", "subscriber/3"),
    ("premium/1", ""),
    ("broadcaster/1,subscriber/0", "subscriber/1"),
    (
        "subscriber/3036,sub-gifter/50,glhf-pledge/1",
        "subscriber/40",
    ),
    ("founder/0,bits/1000", "founder/16"),
];

fn uuid(rng: &mut Rng) -> String {
    let a = rng.next();
    let b = rng.next();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// One realistic PRIVMSG line with Twitch's full tag set.
fn line(rng: &mut Rng) -> String {
    let user = rng.below(500);
    let login = format!("viewer_{user}{}", ["", "tv", "_x", "gaming"][user % 4]);
    let display = if user.is_multiple_of(7) {
        login.to_uppercase()
    } else {
        login.clone()
    };
    let (badges, badge_info) = BADGE_SETS[user % BADGE_SETS.len()];
    let target_len = 20 + rng.below(280);
    let mut text = String::new();
    let mut emotes: Vec<(&str, Vec<(usize, usize)>)> = Vec::new();
    let mut pos = 0usize; // in chars, as Twitch counts
    while text.len() < target_len {
        if !text.is_empty() {
            text.push(' ');
            pos += 1;
        }
        if rng.chance(15) {
            let (name, id) = EMOTES[rng.below(EMOTES.len())];
            let len = name.chars().count();
            match emotes.iter_mut().find(|(e, _)| *e == id) {
                Some((_, ranges)) => ranges.push((pos, pos + len - 1)),
                None => emotes.push((id, vec![(pos, pos + len - 1)])),
            }
            text.push_str(name);
            pos += len;
        } else {
            let w = WORDS[rng.below(WORDS.len())];
            text.push_str(w);
            pos += w.chars().count();
        }
    }
    let emotes = emotes
        .iter()
        .map(|(id, ranges)| {
            let r: Vec<String> = ranges.iter().map(|(s, e)| format!("{s}-{e}")).collect();
            format!("{id}:{}", r.join(","))
        })
        .collect::<Vec<_>>()
        .join("/");
    let reply = if rng.chance(10) {
        format!(
            "reply-parent-display-name=Someone;reply-parent-msg-body=did\\syou\\ssee\\sthat\\:\\sreally?;\
             reply-parent-msg-id={};reply-parent-user-id=4242;reply-parent-user-login=someone;\
             reply-thread-parent-msg-id={};reply-thread-parent-user-login=someone;",
            uuid(rng),
            uuid(rng)
        )
    } else {
        String::new()
    };
    let is_mod = u8::from(badges.contains("moderator"));
    let is_sub = u8::from(badges.contains("subscriber"));
    format!(
        "@badge-info={badge_info};badges={badges};client-nonce={nonce:032x};color=#{color:06X};\
         display-name={display};emotes={emotes};first-msg={first};flags=;id={id};mod={is_mod};\
         {reply}returning-chatter=0;room-id=22484632;subscriber={is_sub};\
         tmi-sent-ts={ts};turbo=0;user-id={uid};user-type= \
         :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #somestreamer :{text}\r\n",
        nonce = u128::from(rng.next()) << 64 | u128::from(rng.next()),
        color = rng.next() & 0xff_ffff,
        first = u8::from(rng.chance(2)),
        id = uuid(rng),
        ts = 1_700_000_000_000u64 + rng.next() % 1_000_000_000,
        uid = 10_000_000 + user * 7919,
    )
}

/// This thread's time on a CPU so far (Linux `schedstat`), so a machine shared with other
/// builds does not count their time against us; `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` over the corpus until `budget` is spent, `rounds` times; returns lines per second
/// of CPU time (wall time where CPU time is unavailable) per round.
fn measure(
    corpus: &[String],
    rounds: usize,
    budget: Duration,
    mut f: impl FnMut(&str),
) -> Vec<f64> {
    // Warm-up: caches, allocator, branch predictors.
    for l in corpus {
        f(l);
    }
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let cpu_start = cpu_time();
            let mut lines = 0u64;
            while start.elapsed() < budget {
                for l in corpus {
                    f(l);
                }
                lines += corpus.len() as u64;
            }
            let wall = start.elapsed();
            let spent = match (cpu_start, cpu_time()) {
                (Some(a), Some(b)) if b > a => b - a,
                _ => wall,
            };
            lines as f64 / spent.as_secs_f64()
        })
        .collect()
}

/// One benchmarked operation over a line.
type Case = Box<dyn FnMut(&str)>;

fn report(name: &str, mut rates: Vec<f64>) {
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let best = rates[rates.len() - 1];
    println!(
        "{name:<34} median {:>6.2} M lines/s   best {:>6.2} M lines/s   ({:.0} ns/line)",
        median / 1e6,
        best / 1e6,
        1e9 / median
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // 1,000 distinct lines (about 660 KB): a line just read from the socket is in the cache when
    // it is parsed, so the corpus should mostly be too. `IRC_BENCH_LINES` changes the size.
    let size = std::env::var("IRC_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let corpus: Vec<String> = (0..size).map(|_| line(&mut rng)).collect();
    let bytes: usize = corpus.iter().map(String::len).sum();
    let texts: Vec<usize> = corpus
        .iter()
        .map(|l| l.rsplit_once(" :").map_or(0, |(_, t)| t.trim_end().len()))
        .collect();
    println!(
        "corpus: {} PRIVMSG lines, {:.0} bytes/line on average, text {}-{} bytes",
        corpus.len(),
        bytes as f64 / corpus.len() as f64,
        texts.iter().min().unwrap_or(&0),
        texts.iter().max().unwrap_or(&0),
    );
    // Every line must become a chat event, or the figures below would measure the wrong path.
    let chats: Vec<_> = corpus
        .iter()
        .filter_map(|l| match interpret(&IrcLine::parse(l).ok()?) {
            Incoming::Event(Event::Chat(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(
        chats.len(),
        corpus.len(),
        "corpus lines that did not interpret"
    );
    let emotes: usize = chats.iter().map(|m| m.emotes.len()).sum();
    let replies = chats.iter().filter(|m| m.reply_parent.is_some()).count();
    let users: std::collections::HashSet<_> = chats.iter().map(|m| &m.sender.login).collect();
    println!(
        "        {} users, {:.1} emote ranges/line, {:.0}% replies",
        users.len(),
        emotes as f64 / chats.len() as f64,
        100.0 * replies as f64 / chats.len() as f64
    );

    println!("lines per second of this thread's CPU time (immune to other load on the machine):");
    // An optional filter (`parse`, `walk`, `interpret`) runs one case only, e.g. for `perf`.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    // `IRC_BENCH_PASSES=n`: no timing, just n passes of each selected case, for counting
    // instructions under `valgrind --tool=cachegrind`, which the machine's load cannot disturb.
    let passes: Option<usize> = std::env::var("IRC_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok());
    let cases: [(&str, Case); 3] = [
        (
            "(a) IrcLine::parse",
            Box::new(|l: &str| {
                let _ = black_box(IrcLine::parse(black_box(l)));
            }),
        ),
        (
            "(a') parse + walk every tag",
            Box::new(|l: &str| {
                if let Ok(p) = IrcLine::parse(black_box(l)) {
                    black_box(p.tags().count());
                    black_box(p.trailing());
                }
            }),
        ),
        (
            "(b) parse + interpret into Event",
            Box::new(|l: &str| {
                if let Ok(p) = IrcLine::parse(black_box(l)) {
                    black_box(interpret(&p));
                }
            }),
        ),
    ];
    for (name, mut f) in cases {
        if filter.as_deref().is_some_and(|want| !name.contains(want)) {
            continue;
        }
        match passes {
            Some(n) => {
                for _ in 0..n {
                    for l in &corpus {
                        f(l);
                    }
                }
                println!("{name}: {n} passes done");
            }
            None => report(name, measure(&corpus, 7, Duration::from_millis(400), f)),
        }
    }
}
