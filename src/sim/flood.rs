//! A flood server for the end-to-end benchmark: a Twitch-IRC-speaking TCP server on 127.0.0.1
//! that logs one client in, lets it join, then sends it N realistic tagged PRIVMSG lines (as
//! fast as the socket takes them, or paced) with a fraction of commands, and times each reply.
//!
//! It works against any bot that speaks Twitch IRC over plain TCP: it only needs PASS/NICK
//! (CAP REQ optional) and a JOIN. Replies are matched to commands by `reply-parent-msg-id` when
//! the bot threads its replies, otherwise in order. Blocking std threads rather than tokio, so
//! the timestamps are not delayed by a runtime's scheduling.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::punished::Punishments;
use super::viewer::{Viewer, privmsg_line, stable_id};
use crate::event::Roles;
use crate::twitch::irc::IrcLine;

/// What to flood.
#[derive(Debug, Clone)]
pub struct FloodOptions {
    /// Chat lines to send (the last one is always a command, the end marker).
    pub messages: usize,
    /// Fraction of lines that are the command (0.0..=1.0).
    pub command_fraction: f64,
    /// The command text, e.g. `!ping`.
    pub command: String,
    /// Lines per second; `None` sends as fast as the socket takes them.
    pub rate: Option<f64>,
    /// Fraction of lines that are channel events instead of chat: resubs, gifted subs, raids
    /// (USERNOTICE) and cheers (PRIVMSG with `bits`), as Twitch sends them over IRC.
    pub event_fraction: f64,
    /// Seed for the corpus, so every run sends the same lines.
    pub seed: u64,
    /// How long to wait for the end marker's reply after the last line is written.
    pub reply_timeout: Duration,
    /// How many different chatters send the lines.
    pub chatters: usize,
    /// A regular viewer (a VIP, so chat filters let them repeat themselves) who types the
    /// command this often from the first line until the end marker is answered; measured
    /// apart from the corpus' commands ([`FloodReport::regular`]). The end marker is then
    /// theirs too: a flooding chatter's command may rightly go unanswered (moderation caught
    /// it), the regular's must not.
    pub regular_every: Option<Duration>,
    /// Twitch's delivery rule: a line from an account banned or timed out here is withheld
    /// (the end marker is always delivered, so the flood can end).
    pub punished: Option<Punishments>,
}

impl Default for FloodOptions {
    fn default() -> Self {
        FloodOptions {
            messages: 200_000,
            command_fraction: 0.01,
            command: "!ping".into(),
            rate: None,
            event_fraction: 0.0,
            seed: 0x5eed,
            reply_timeout: Duration::from_secs(60),
            chatters: 600,
            regular_every: None,
            punished: None,
        }
    }
}

/// Why a flood did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    #[error("flood server I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the client closed the connection before joining a channel")]
    NoJoin,
    /// What was measured up to the deadline is in the report (`elapsed` ends there).
    #[error("no reply to the final command within {0:?} ({1} of {2} commands answered)")]
    NoFinalReply(Duration, usize, usize, Box<FloodReport>),
}

/// What a flood measured.
#[derive(Debug, Clone)]
pub struct FloodReport {
    /// The login the client gave with NICK, and the channel it joined.
    pub login: String,
    pub channel: String,
    pub messages: usize,
    pub commands: usize,
    /// Replies matched to a command.
    pub replies: usize,
    /// From the first line written to the final command's reply (the client consumed all).
    pub elapsed: Duration,
    /// From the first line written to the last line written.
    pub send_time: Duration,
    /// Reply latencies, sorted: reply arrival minus the time the command's write began.
    pub latencies: Vec<Duration>,
    /// Lines withheld by the delivery rule, and the commands among them.
    pub withheld: usize,
    pub commands_withheld: usize,
    /// The regular viewer's commands: how many were typed, how many withheld, and the reply
    /// latencies, sorted (reply arrival minus the moment the command was due).
    pub regular_sent: usize,
    pub regular_withheld: usize,
    pub regular: Vec<Duration>,
}

impl FloodReport {
    /// Lines the client consumed per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile (0..=100) of the reply latencies.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        percentile(&self.latencies, p)
    }
}

/// The `p`-th percentile (0..=100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

/// The lines of one flood, built before it starts so building costs nothing during it.
pub struct Corpus {
    /// Every line with its `\r\n`.
    pub bytes: Vec<u8>,
    /// End offset of each line in `bytes`.
    pub ends: Vec<usize>,
    /// For each line, its command ordinal when it is a command.
    pub command_of: Vec<Option<u32>>,
    pub commands: usize,
    /// For each line, the index of its sender in `sender_ids`.
    pub sender: Vec<u32>,
    /// The chatters' user ids.
    pub sender_ids: Vec<String>,
}

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
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: &[&str] = &[
    "lol",
    "that",
    "was",
    "insane",
    "gg",
    "what",
    "is",
    "this",
    "song",
    "chat",
    "pog",
    "no",
    "way",
    "he",
    "did",
    "it",
    "again",
    "first",
    "time",
    "here",
    "love",
    "the",
    "stream",
    "today",
    "why",
    "would",
    "you",
    "do",
    "é",
    "naïve",
    "🎉",
    "LETSGO",
    "bruh",
    "clip",
    "Kappa",
    "PogChamp",
    "LUL",
    "KEKW",
    "monkaS",
    "catJAM",
    "OMEGALUL",
    "5Head",
    "ez",
    "W",
    "L",
    "@streamer",
    "hype",
    "😂",
];

/// A message id that carries the line's index, so a threaded reply finds its command directly.
/// A channel event as Twitch's IRC sends it: a resub, a gifted sub or a raid (USERNOTICE), or a
/// cheer (a PRIVMSG with `bits`).
fn event_line(
    channel: &str,
    room: &str,
    viewer: &Viewer,
    rng: &mut Rng,
    id: &str,
    sent_ms: u64,
) -> String {
    let login = &viewer.login;
    let head = format!(
        "@badge-info=;badges=;color=;display-name={login};emotes=;flags=;id={id};login={login};mod=0;\
         room-id={room};subscriber=1;tmi-sent-ts={sent_ms};user-id={};user-type=",
        viewer.id
    );
    match rng.below(4) {
        0 => format!(
            "{head};msg-id=resub;msg-param-cumulative-months={};msg-param-streak-months=0;\
             msg-param-should-share-streak=0;msg-param-sub-plan=1000;msg-param-sub-plan-name=Sub;\
             system-msg={login}\\ssubscribed :tmi.twitch.tv USERNOTICE #{channel} :still here PogChamp",
            2 + rng.below(40)
        ),
        1 => format!(
            "{head};msg-id=subgift;msg-param-months=1;msg-param-recipient-display-name=Lucky{n};\
             msg-param-recipient-id={};msg-param-recipient-user-name=lucky{n};msg-param-sub-plan=1000;\
             msg-param-sub-plan-name=Sub;system-msg={login}\\sgifted\\sa\\ssub :tmi.twitch.tv USERNOTICE #{channel}",
            900_000 + rng.below(10_000),
            n = rng.below(10_000)
        ),
        2 => format!(
            "{head};msg-id=raid;msg-param-displayName={login};msg-param-login={login};\
             msg-param-viewerCount={};system-msg=raiders :tmi.twitch.tv USERNOTICE #{channel}",
            1 + rng.below(200)
        ),
        _ => format!(
            "{head};bits={} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :Cheer100 hype",
            100
        ),
    }
}

fn msg_id(index: usize) -> String {
    format!(
        "{:08x}-f10d-4000-8000-{index:012x}",
        stable_id(&index.to_string()) as u32
    )
}

/// The line index a [`msg_id`] carries.
fn index_of(id: &str) -> Option<usize> {
    let (_, tail) = id.rsplit_once('-')?;
    usize::from_str_radix(tail, 16).ok()
}

/// `n` chatters with Twitch's mix of roles: mostly plain, many subscribers, a few VIPs and mods.
fn viewers(n: usize) -> Vec<Viewer> {
    (0..n.max(1))
        .map(|u| {
            let suffix = ["", "tv", "_x", "gaming", "123"][u % 5];
            let mut v = Viewer::new(&format!("viewer_{u}{suffix}"));
            if u % 3 == 0 {
                v = v.with(Roles::SUBSCRIBER);
                v.sub_months = (u as u32 % 40) + 1;
            }
            if u % 29 == 0 {
                v = v.with(Roles::VIP);
            }
            if u % 53 == 0 {
                v = v.with(Roles::MODERATOR);
            }
            if u % 41 == 0 {
                v = v.with(Roles::TURBO);
            }
            v
        })
        .collect()
}

/// Builds the flood for `channel`: varied chatters and texts (1 to 30 words, some Unicode and
/// emote names), commands spread at random with the last line always a command.
pub fn corpus(options: &FloodOptions, channel: &str) -> Corpus {
    let mut rng = Rng(options.seed | 1);
    let mut viewers = viewers(options.chatters);
    let chatters = viewers.len();
    // With a regular viewer, the end marker is theirs (after the chatters in `sender_ids`).
    if options.regular_every.is_some() {
        viewers.push(regular_viewer());
    }
    let mut sender = Vec::with_capacity(options.messages.max(1));
    let room = stable_id(channel).to_string();
    let n = options.messages.max(1);
    let mut bytes = Vec::with_capacity(n * 380);
    let mut ends = Vec::with_capacity(n);
    let mut command_of = Vec::with_capacity(n);
    let mut commands = 0u32;
    let mut text = String::new();
    let base_ms = 1_700_000_000_000u64;
    for i in 0..n {
        let mut who = rng.below(chatters);
        if i + 1 == n && options.regular_every.is_some() {
            who = chatters;
        }
        sender.push(who as u32);
        let viewer = &viewers[who];
        let is_command = i + 1 == n || rng.unit() < options.command_fraction;
        text.clear();
        // Only a flood with events draws for them, so the plain corpus stays the same as ever.
        if !is_command && options.event_fraction > 0.0 && rng.unit() < options.event_fraction {
            let line = event_line(
                channel,
                &room,
                viewer,
                &mut rng,
                &msg_id(i),
                base_ms + i as u64,
            );
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            ends.push(bytes.len());
            command_of.push(None);
            continue;
        }
        if is_command {
            text.push_str(&options.command);
        } else {
            let longest = if rng.below(10) == 0 { 30 } else { 8 };
            let words = 1 + rng.below(longest);
            for w in 0..words {
                if w > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[rng.below(WORDS.len())]);
            }
            if rng.below(50) == 0 {
                let _ = write!(text, " https://clips.twitch.tv/Clip{}", rng.below(1 << 20));
            }
        }
        let line = privmsg_line(
            channel,
            &room,
            viewer,
            &text,
            &msg_id(i),
            base_ms + i as u64,
        );
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        ends.push(bytes.len());
        command_of.push(is_command.then(|| {
            commands += 1;
            commands - 1
        }));
    }
    Corpus {
        bytes,
        ends,
        command_of,
        commands: commands as usize,
        sender,
        sender_ids: viewers.into_iter().map(|v| v.id).collect(),
    }
}

/// A bound flood server. Each [`FloodServer::serve_one`] serves one client.
pub struct FloodServer {
    listener: TcpListener,
}

/// Sentinel for "not written yet" in the send-time table.
const UNSENT: u64 = u64::MAX;

impl FloodServer {
    /// Binds `addr` (use port 0 for an ephemeral port).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub fn bind(addr: &str) -> std::io::Result<FloodServer> {
        Ok(FloodServer {
            listener: TcpListener::bind(addr)?,
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `irc://127.0.0.1:PORT`, for a bot's chat URL.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn irc_url(&self) -> std::io::Result<String> {
        Ok(format!("irc://{}", self.local_addr()?))
    }

    /// Accepts one client, logs it in, waits for its JOIN, calls `joined(login, channel)`, then
    /// floods it and waits for the final command's reply.
    ///
    /// # Errors
    /// I/O errors, a client that leaves before joining, or no reply to the end marker.
    pub fn serve_one(
        &self,
        options: &FloodOptions,
        joined: impl FnOnce(&str, &str),
    ) -> Result<FloodReport, FloodError> {
        let (stream, _) = self.listener.accept()?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        let mut writer = stream;
        let (login, channel) = handshake(&mut reader, &mut writer)?;
        let corpus = corpus(options, &channel);
        joined(&login, &channel);

        // Send times (ns since `t0`) per command ordinal, written by this thread, read by the
        // reader thread.
        // The regular viewer's commands come after the corpus' in this table.
        let slots = corpus.commands + options.regular_every.map_or(0, |_| REGULAR_SLOTS);
        let sent: Arc<Vec<AtomicU64>> =
            Arc::new((0..slots).map(|_| AtomicU64::new(UNSENT)).collect());
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(corpus.commands)));
        let regular_latencies = Arc::new(Mutex::new(Vec::new()));
        let (control_tx, control_rx) = mpsc::channel::<String>();
        let (done_tx, done_rx) = mpsc::channel::<Instant>();
        let t0 = Instant::now();
        let final_cmd = corpus.commands.saturating_sub(1);
        let reader_thread = {
            let sent = sent.clone();
            let latencies = latencies.clone();
            let regular_latencies = regular_latencies.clone();
            let commands = corpus.commands;
            let command_of = corpus.command_of.clone();
            let channel = channel.clone();
            let fifo = options.event_fraction == 0.0;
            std::thread::Builder::new()
                .name("flood-reader".into())
                .spawn(move || {
                    read_replies(ReadState {
                        reader,
                        t0,
                        sent: &sent,
                        command_of: &command_of,
                        latencies: &latencies,
                        regular_latencies: &regular_latencies,
                        commands,
                        control: control_tx,
                        done: done_tx,
                        final_cmd,
                        channel: &channel,
                        // Event scripts answer without threading; only threaded replies can
                        // then be matched to commands.
                        fifo,
                    });
                })?
        };

        let start = Instant::now();
        let flush_control = |writer: &mut TcpStream| -> std::io::Result<()> {
            while let Ok(line) = control_rx.try_recv() {
                writer.write_all(line.as_bytes())?;
            }
            Ok(())
        };
        let mut regular =
            Regular::new(options, &channel, corpus.ends.len(), corpus.commands, start);
        let mut gate = Gate::new(options.punished.clone(), &corpus.sender_ids);
        let mut withheld = 0usize;
        let mut commands_withheld = 0usize;
        let last = corpus.ends.len().saturating_sub(1);
        let mut buf: Vec<u8> = Vec::with_capacity(80 * 1024);
        let mut i = 0usize;
        let gap = options
            .rate
            .map(|rate| Duration::from_secs_f64(1.0 / rate.max(1e-3)));
        while i < corpus.ends.len() {
            // Paced: one line at its time; flooding: chunks of about 64 KiB, each stamped when
            // its write begins.
            if let Some(gap) = gap {
                let due = start + gap.mul_f64(i as f64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            buf.clear();
            regular.push_due(&mut buf, &sent, t0, &gate);
            let now = t0.elapsed().as_nanos() as u64;
            gate.refresh();
            let mut j = i;
            while j < corpus.ends.len() && (j == i || (gap.is_none() && buf.len() < 64 * 1024)) {
                let from = if j == 0 { 0 } else { corpus.ends[j - 1] };
                let sender = corpus.sender.get(j).copied().unwrap_or(0) as usize;
                if j == last || gate.delivers(sender) {
                    buf.extend_from_slice(&corpus.bytes[from..corpus.ends[j]]);
                    if let Some(c) = corpus.command_of[j] {
                        sent[c as usize].store(now, Ordering::Release);
                    }
                } else {
                    withheld += 1;
                    commands_withheld += usize::from(corpus.command_of[j].is_some());
                }
                j += 1;
            }
            writer.write_all(&buf)?;
            flush_control(&mut writer)?;
            i = j;
        }
        let send_time = start.elapsed();
        // Keep answering the client's PINGs and messages until the end marker's reply arrives.
        let deadline = Instant::now() + options.reply_timeout;
        let finished = loop {
            match done_rx.recv_timeout(Duration::from_millis(5)) {
                Ok(at) => break Some(at),
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    buf.clear();
                    regular.push_due(&mut buf, &sent, t0, &gate);
                    if !buf.is_empty() {
                        writer.write_all(&buf)?;
                    }
                    flush_control(&mut writer)?;
                    if Instant::now() > deadline {
                        break None;
                    }
                }
            }
        };
        let mut latencies =
            std::mem::take(&mut *latencies.lock().unwrap_or_else(PoisonError::into_inner));
        let mut regular_latencies = std::mem::take(
            &mut *regular_latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        regular_latencies.sort_unstable();
        let replies = latencies.len();
        let _ = writer.shutdown(std::net::Shutdown::Both);
        let _ = reader_thread.join();
        latencies.sort_unstable();
        let report = FloodReport {
            login,
            channel,
            messages: corpus.ends.len(),
            commands: corpus.commands,
            replies,
            elapsed: finished.unwrap_or_else(Instant::now).duration_since(start),
            send_time,
            latencies,
            withheld,
            commands_withheld,
            regular_sent: regular.sent,
            regular_withheld: regular.withheld,
            regular: regular_latencies,
        };
        if finished.is_none() {
            return Err(FloodError::NoFinalReply(
                options.reply_timeout,
                replies,
                corpus.commands,
                Box::new(report),
            ));
        }
        Ok(report)
    }
}

/// The regular viewer: a VIP, whom the repetition filter lets repeat the same command.
fn regular_viewer() -> Viewer {
    Viewer::new("regular_viewer").with(Roles::VIP)
}

/// How many commands the regular viewer may type in one flood (an hour at one a second).
const REGULAR_SLOTS: usize = 4_096;

/// The regular viewer of [`FloodOptions::regular_every`]: their k-th command carries the
/// message id of line `corpus length + k`, so its reply is found like any other.
struct Regular {
    every: Option<Duration>,
    next: Instant,
    viewer: Viewer,
    channel: String,
    room: String,
    command: String,
    lines: usize,
    commands: usize,
    sent: usize,
    withheld: usize,
}

impl Regular {
    fn new(
        options: &FloodOptions,
        channel: &str,
        lines: usize,
        commands: usize,
        start: Instant,
    ) -> Regular {
        Regular {
            every: options.regular_every,
            next: start,
            viewer: regular_viewer(),
            channel: channel.to_string(),
            room: stable_id(channel).to_string(),
            command: options.command.clone(),
            lines,
            commands,
            sent: 0,
            withheld: 0,
        }
    }

    /// Appends every command now due to `buf`, stamping each with the moment it was due.
    fn push_due(&mut self, buf: &mut Vec<u8>, sent: &[AtomicU64], t0: Instant, gate: &Gate) {
        let Some(every) = self.every else { return };
        while self.next <= Instant::now() && self.sent + self.withheld < REGULAR_SLOTS {
            let k = self.sent + self.withheld;
            let due = self.next.saturating_duration_since(t0).as_nanos() as u64;
            self.next += every;
            if gate.mutes(&self.viewer.id) {
                self.withheld += 1;
                continue;
            }
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let line = privmsg_line(
                &self.channel,
                &self.room,
                &self.viewer,
                &self.command,
                &msg_id(self.lines + k),
                ms,
            );
            if let Some(slot) = sent.get(self.commands + k) {
                slot.store(due, Ordering::Release);
            }
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
            self.sent += 1;
        }
    }
}

/// The flood's view of [`FloodOptions::punished`]: which chatters are muted, refreshed when a
/// punishment changes (and every half second, for timeouts that end).
struct Gate {
    punished: Option<Punishments>,
    index: std::collections::HashMap<String, usize>,
    muted: Vec<bool>,
    generation: u64,
    refreshed: Instant,
}

impl Gate {
    fn new(punished: Option<Punishments>, ids: &[String]) -> Gate {
        Gate {
            index: ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            muted: vec![false; ids.len()],
            punished,
            generation: 0,
            refreshed: Instant::now(),
        }
    }

    fn refresh(&mut self) {
        let Some(p) = &self.punished else { return };
        let generation = p.generation();
        if generation == self.generation && self.refreshed.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.generation = generation;
        let now = Instant::now();
        self.refreshed = now;
        self.muted.fill(false);
        for (id, punishment) in p.all() {
            if let Some(&i) = self.index.get(&id)
                && punishment.mutes_at(now)
            {
                self.muted[i] = true;
            }
        }
    }

    /// Whether chatter `i`'s line reaches the client.
    fn delivers(&self, i: usize) -> bool {
        !self.muted.get(i).copied().unwrap_or(false)
    }

    fn mutes(&self, user_id: &str) -> bool {
        self.punished
            .as_ref()
            .is_some_and(|p| p.is_muted(user_id, Instant::now()))
    }
}

/// Reads the client's login and JOIN, answering as Twitch does; returns (login, channel).
fn handshake(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<(String, String), FloodError> {
    let mut nick = String::new();
    let mut raw = String::new();
    loop {
        raw.clear();
        if reader.read_line(&mut raw)? == 0 {
            return Err(FloodError::NoJoin);
        }
        let Ok(line) = IrcLine::parse(raw.trim_end()) else {
            continue;
        };
        let mut out = String::new();
        match line.command() {
            "NICK" => {
                nick = line.param(0).unwrap_or("justinfan").to_ascii_lowercase();
                for (code, text) in [
                    ("001", "Welcome, GLHF!"),
                    ("002", "Your host is tmi.twitch.tv"),
                    ("003", "This server is rather new"),
                    ("004", "-"),
                    ("375", "-"),
                    ("372", "You are in a maze of twisty passages, all alike."),
                    ("376", ">"),
                ] {
                    let _ = write!(out, ":tmi.twitch.tv {code} {nick} :{text}\r\n");
                }
            }
            "CAP" if line.param(0) == Some("REQ") => {
                let caps = line.trailing().unwrap_or_default();
                let _ = write!(out, ":tmi.twitch.tv CAP * ACK :{caps}\r\n");
            }
            "PING" => {
                let token = line.trailing().unwrap_or("tmi.twitch.tv");
                let _ = write!(out, ":tmi.twitch.tv PONG tmi.twitch.tv :{token}\r\n");
            }
            "JOIN" => {
                let chan = line
                    .param(0)
                    .unwrap_or_default()
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('#')
                    .to_ascii_lowercase();
                if chan.is_empty() {
                    continue;
                }
                let _ = write!(
                    out,
                    ":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{chan}\r\n\
                     :{nick}.tmi.twitch.tv 353 {nick} = #{chan} :{nick}\r\n\
                     :{nick}.tmi.twitch.tv 366 {nick} #{chan} :End of /NAMES list\r\n\
                     {}\r\n\
                     @emote-only=0;followers-only=-1;r9k=0;room-id={};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{chan}\r\n",
                    userstate(&nick, &chan),
                    stable_id(&chan),
                );
                writer.write_all(out.as_bytes())?;
                return Ok((nick, chan));
            }
            _ => {}
        }
        if !out.is_empty() {
            writer.write_all(out.as_bytes())?;
        }
    }
}

fn userstate(nick: &str, chan: &str) -> String {
    format!(
        "@badge-info=;badges=;color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE #{chan}"
    )
}

struct ReadState<'a> {
    reader: BufReader<TcpStream>,
    t0: Instant,
    sent: &'a [AtomicU64],
    command_of: &'a [Option<u32>],
    latencies: &'a Mutex<Vec<Duration>>,
    /// Latencies of the regular viewer's commands (ordinals from `commands` on).
    regular_latencies: &'a Mutex<Vec<Duration>>,
    commands: usize,
    control: mpsc::Sender<String>,
    done: mpsc::Sender<Instant>,
    final_cmd: usize,
    channel: &'a str,
    /// Match unthreaded replies to the oldest unanswered command.
    fifo: bool,
}

/// The reader thread: stamps each reply PRIVMSG on arrival and matches it to its command;
/// hands PONGs and USERSTATEs to the writer.
fn read_replies(mut s: ReadState<'_>) {
    let mut raw = String::new();
    let mut answered = vec![false; s.sent.len()];
    // Oldest command not yet answered, for bots that do not thread replies.
    let mut fifo = 0usize;
    // Once the bot threads its replies, its unthreaded messages (warnings, thanks) answer no
    // command: matching them in order would mark a command answered before it was even sent.
    let mut threaded = false;
    loop {
        raw.clear();
        match s.reader.read_line(&mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let arrived = Instant::now();
        let Ok(line) = IrcLine::parse(raw.trim_end()) else {
            continue;
        };
        match line.command() {
            "PING" => {
                let token = line.trailing().unwrap_or("tmi.twitch.tv");
                let _ = s
                    .control
                    .send(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{token}\r\n"));
            }
            "PRIVMSG" => {
                // Twitch acknowledges every message with a USERSTATE; some clients wait for it.
                let _ = s
                    .control
                    .send(format!("{}\r\n", userstate("bot", s.channel)));
                let by_tag = line
                    .tag("reply-parent-msg-id")
                    .and_then(|v| index_of(&v.unescaped()))
                    .and_then(|i| match i.checked_sub(s.command_of.len()) {
                        // Past the corpus: the regular viewer's k-th command.
                        Some(k) => Some(s.commands + k).filter(|c| *c < s.sent.len()),
                        None => s.command_of.get(i).copied().flatten().map(|c| c as usize),
                    });
                let cmd = match by_tag {
                    Some(c) => {
                        threaded = true;
                        c
                    }
                    None if !s.fifo || threaded => continue,
                    None => {
                        while answered.get(fifo).copied().unwrap_or(false) {
                            fifo += 1;
                        }
                        fifo
                    }
                };
                let Some(slot) = answered.get_mut(cmd) else {
                    continue;
                };
                if *slot {
                    continue;
                }
                *slot = true;
                let sent = s
                    .sent
                    .get(cmd)
                    .map_or(UNSENT, |a| a.load(Ordering::Acquire));
                if sent != UNSENT {
                    let at = arrived.duration_since(s.t0);
                    let latency = at.saturating_sub(Duration::from_nanos(sent));
                    let into = if cmd >= s.commands {
                        s.regular_latencies
                    } else {
                        s.latencies
                    };
                    into.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(latency);
                }
                if cmd == s.final_cmd {
                    let _ = s.done.send(arrived);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_ends_with_a_command_and_has_about_the_asked_fraction() {
        let options = FloodOptions {
            messages: 20_000,
            command_fraction: 0.1,
            ..FloodOptions::default()
        };
        let c = corpus(&options, "chan");
        assert_eq!(c.ends.len(), 20_000);
        assert!(
            (1_800..2_200).contains(&c.commands),
            "{} commands",
            c.commands
        );
        assert_eq!(
            c.command_of.last().copied().flatten(),
            Some(c.commands as u32 - 1)
        );
        let text = String::from_utf8(c.bytes).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 20_000);
        for l in &lines[..200] {
            let parsed = IrcLine::parse(l).expect("parses");
            assert_eq!(parsed.command(), "PRIVMSG");
            assert_eq!(parsed.param(0), Some("#chan"));
        }
        assert!(lines.last().is_some_and(|l| l.ends_with(":!ping")));
    }

    #[test]
    fn events_in_the_flood_read_as_twitch_channel_events() {
        let options = FloodOptions {
            messages: 2_000,
            event_fraction: 0.2,
            ..FloodOptions::default()
        };
        let c = corpus(&options, "chan");
        let mut kinds = std::collections::BTreeSet::new();
        let mut start = 0;
        for &end in &c.ends {
            let raw = std::str::from_utf8(&c.bytes[start..end]).expect("utf-8");
            start = end;
            let line = IrcLine::parse(raw.trim_end()).expect("parses");
            if let Some(ev) = match crate::twitch::irc::interpret(&line) {
                crate::twitch::irc::Incoming::Event(crate::event::Event::UserNotice(n)) => {
                    crate::twitch::eventsub::channel_event_from_usernotice(&n)
                }
                crate::twitch::irc::Incoming::Event(crate::event::Event::Chat(m)) => {
                    crate::twitch::eventsub::channel_event_from_chat(&m)
                }
                _ => None,
            } {
                kinds.insert(ev.kind.topic());
            }
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec!["cheer", "raid", "resub", "subscribe"]
        );
    }

    #[test]
    fn message_ids_carry_their_index() {
        assert_eq!(index_of(&msg_id(0)), Some(0));
        assert_eq!(index_of(&msg_id(199_999)), Some(199_999));
    }

    /// A minimal client that answers every `!ping` with a threaded reply (and says something
    /// else unthreaded after each): the server sees all the lines consumed and every command
    /// answered, each with its own latency.
    #[test]
    fn a_client_that_answers_every_command_is_fully_measured() {
        let server = FloodServer::bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().expect("addr");
        let client = std::thread::spawn(move || {
            let stream = TcpStream::connect(addr).expect("connect");
            let mut w = stream.try_clone().expect("clone");
            w.write_all(b"PASS oauth:x\r\nNICK Tester\r\nJOIN #room\r\n")
                .expect("login");
            let mut r = BufReader::new(stream);
            let mut raw = String::new();
            let mut chat = 0usize;
            loop {
                raw.clear();
                if r.read_line(&mut raw).unwrap_or(0) == 0 {
                    return chat;
                }
                let Ok(line) = IrcLine::parse(raw.trim_end()) else {
                    continue;
                };
                if line.command() != "PRIVMSG" {
                    continue;
                }
                chat += 1;
                if line.trailing() == Some("!ping")
                    && let Some(id) = line.tag("id")
                {
                    // A bot also says things that answer no command (a moderation warning):
                    // unthreaded, they must not be taken for a reply.
                    let reply = format!(
                        "@reply-parent-msg-id={} PRIVMSG #room :pong\r\n\
                         PRIVMSG #room :Tester, please don't shout.\r\n",
                        id.unescaped()
                    );
                    if w.write_all(reply.as_bytes()).is_err() {
                        return chat;
                    }
                }
            }
        });
        let options = FloodOptions {
            messages: 5_000,
            command_fraction: 0.05,
            // Paced, so the next command is not yet sent when a warning arrives.
            rate: Some(10_000.0),
            reply_timeout: Duration::from_secs(20),
            ..FloodOptions::default()
        };
        let mut seen = None;
        let report = server
            .serve_one(&options, |login, channel| {
                seen = Some((login.to_string(), channel.to_string()))
            })
            .expect("flood completes");
        assert_eq!(seen, Some(("tester".into(), "room".into())));
        assert_eq!(report.messages, 5_000);
        assert_eq!(report.replies, report.commands);
        assert!(report.percentile(99.0).is_some());
        assert_eq!(client.join().expect("client"), 5_000);
    }

    #[test]
    fn a_client_that_never_answers_is_reported_not_waited_on_forever() {
        let server = FloodServer::bind("127.0.0.1:0").expect("bind");
        let addr = server.local_addr().expect("addr");
        let client = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"NICK quiet\r\nJOIN #room\r\n")
                .expect("login");
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        });
        let options = FloodOptions {
            messages: 100,
            reply_timeout: Duration::from_millis(200),
            ..FloodOptions::default()
        };
        let err = server
            .serve_one(&options, |_, _| {})
            .expect_err("no replies");
        assert!(matches!(err, FloodError::NoFinalReply(_, 0, _, _)), "{err}");
        let _ = client.join();
    }
}
