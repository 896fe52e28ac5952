//! The flood's IRC server: logs the bot in and lets it join, sends the corpus (as fast as the
//! socket takes it, or paced) while a regular viewer chats in real time, delivers only what
//! Twitch would (lines of banned or timed-out accounts are dropped), and times each reply.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::corpus::{corpus, index_of, msg_id, regular_viewer};
use super::{FloodError, FloodOptions, FloodReport};
use crate::sim::punished::Punishments;
use crate::sim::viewer::{Viewer, privmsg_line, stable_id};
use crate::twitch::irc::IrcLine;

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
