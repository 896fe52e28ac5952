//! A fake Twitch chat server on 127.0.0.1 speaking Twitch's IRC dialect over plain TCP and over
//! WebSocket. `--offline` runs the bot against it, and tests use it to watch what the bot sends
//! and to break the link on purpose. With [`FakeChat::mirror_to`] every channel line also goes
//! to the EventSub side of chat (`super::chat_events`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::viewer::{Viewer, privmsg_line};
use crate::twitch::irc::IrcLine;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeChatOptions {
    /// When set, only this token (without `oauth:`) logs in; others get Twitch's failure NOTICE.
    pub accepted_token: Option<String>,
    /// Badges the bot gets in USERSTATE (e.g. `moderator/1`), which decide its rate class.
    pub bot_badges: String,
}

/// A line a client sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLine {
    /// Which connection (counts up from 1 per accepted connection).
    pub conn: u64,
    /// The login given with NICK (empty before it).
    pub login: String,
    /// The line as sent, without its line ending.
    pub line: String,
}

/// A chat message the bot sent, as the fake understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The channel, without `#`.
    pub channel: String,
    /// The message text.
    pub text: String,
    /// The message id it replies to (`reply-parent-msg-id`).
    pub reply_to: Option<String>,
}

impl ClientLine {
    /// The chat message in this line, if it is a PRIVMSG.
    pub fn privmsg(&self) -> Option<SentMessage> {
        let line = IrcLine::parse(&self.line).ok()?;
        if line.command() != "PRIVMSG" {
            return None;
        }
        Some(SentMessage {
            channel: line.param(0)?.trim_start_matches('#').to_string(),
            text: line.trailing().unwrap_or_default().to_string(),
            reply_to: line
                .tag("reply-parent-msg-id")
                .map(|v| v.unescaped().into_owned()),
        })
    }
}

struct Client {
    conn: u64,
    login: String,
    channels: HashSet<String>,
    tx: mpsc::Sender<Out>,
}

enum Out {
    Line(String),
    Close,
}

struct Shared {
    options: FakeChatOptions,
    clients: Mutex<Vec<Client>>,
    from_clients: broadcast::Sender<ClientLine>,
    next_conn: AtomicU64,
    next_msg: AtomicU64,
    logins: AtomicU64,
    /// Accounts whose lines Twitch withholds (set by [`FakeChat::apply_punishments`]).
    punished: std::sync::OnceLock<super::punished::Punishments>,
    /// Where every channel line is copied for the EventSub side of chat.
    mirror: std::sync::OnceLock<mpsc::Sender<String>>,
    /// Logins the broadcaster made or unmade moderators since start (through the fake API):
    /// their USERSTATE says so instead of `bot_badges`.
    moderators: Mutex<std::collections::HashMap<String, bool>>,
}

impl Shared {
    fn clients(&self) -> std::sync::MutexGuard<'_, Vec<Client>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake chat server. Dropping it stops it.
pub struct FakeChat {
    tcp_addr: SocketAddr,
    ws_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The stable room id the fake gives a channel.
pub fn room_id(channel: &str) -> String {
    super::viewer::stable_id(channel).to_string()
}

impl FakeChat {
    /// Starts the server on two ephemeral loopback ports (TCP and WebSocket).
    ///
    /// # Errors
    /// When the ports cannot be bound.
    pub async fn start(options: FakeChatOptions) -> std::io::Result<FakeChat> {
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let ws = TcpListener::bind("127.0.0.1:0").await?;
        let shared = Arc::new(Shared {
            options,
            clients: Mutex::new(Vec::new()),
            from_clients: broadcast::channel(4_096).0,
            next_conn: AtomicU64::new(1),
            next_msg: AtomicU64::new(1),
            logins: AtomicU64::new(0),
            punished: std::sync::OnceLock::new(),
            mirror: std::sync::OnceLock::new(),
            moderators: Mutex::default(),
        });
        let stop = CancellationToken::new();
        let fake = FakeChat {
            tcp_addr: tcp.local_addr()?,
            ws_addr: ws.local_addr()?,
            shared,
            stop,
        };
        tokio::spawn(accept_loop(
            tcp,
            false,
            fake.shared.clone(),
            fake.stop.clone(),
        ));
        tokio::spawn(accept_loop(
            ws,
            true,
            fake.shared.clone(),
            fake.stop.clone(),
        ));
        Ok(fake)
    }

    /// `irc://127.0.0.1:PORT`
    pub fn irc_url(&self) -> String {
        format!("irc://{}", self.tcp_addr)
    }

    /// `ws://127.0.0.1:PORT`
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// Everything clients send from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientLine> {
        self.shared.from_clients.subscribe()
    }

    /// How many logins (NICK after PASS) the server has accepted so far.
    pub fn logins(&self) -> u64 {
        self.shared.logins.load(Ordering::Relaxed)
    }

    /// How many connected clients have joined `channel`.
    pub fn joined(&self, channel: &str) -> usize {
        let channel = channel.trim_start_matches('#').to_ascii_lowercase();
        self.shared
            .clients()
            .iter()
            .filter(|c| c.channels.contains(&channel))
            .count()
    }

    /// From now on, lines of accounts banned or timed out in `punished` (the fake Helix's,
    /// [`super::FakeTwitchApi::punishments`]) are not delivered, as on Twitch. Set once.
    pub fn apply_punishments(&self, punished: super::punished::Punishments) {
        let _ = self.shared.punished.set(punished);
    }

    /// From now on every line sent to a channel is also handed to `mirror` (the fake API's
    /// [`super::FakeTwitchApi::chat_mirror`]), so EventSub chat sessions see what IRC clients
    /// see. Set once.
    pub fn mirror_to(&self, mirror: mpsc::Sender<String>) {
        let _ = self.shared.mirror.set(mirror);
    }

    /// Whether Twitch would deliver a line `viewer` sends now (not while banned or timed out).
    pub fn delivers(&self, viewer: &Viewer) -> bool {
        self.shared
            .punished
            .get()
            .is_none_or(|p| !p.is_muted(&viewer.id, std::time::Instant::now()))
    }

    /// A viewer writes `text` in `channel`; returns the message id. A banned or timed-out
    /// viewer's line gets an id but reaches nobody (see [`FakeChat::delivers`]).
    pub async fn chat(&self, channel: &str, viewer: &Viewer, text: &str) -> String {
        let n = self.shared.next_msg.fetch_add(1, Ordering::Relaxed);
        let msg_id = format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n);
        let sent_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if !self.delivers(viewer) {
            return msg_id;
        }
        let line = privmsg_line(channel, &room_id(channel), viewer, text, &msg_id, sent_ms);
        self.send_to_channel(channel, line).await;
        msg_id
    }

    /// A viewer cheers `bits` with `text` in `channel`: the PRIVMSG Twitch's chat shows, with
    /// the `bits` tag (the EventSub mirror makes it a `channel.chat.message` with its `cheer`).
    /// Returns the message id.
    pub async fn cheer(&self, channel: &str, viewer: &Viewer, bits: u32, text: &str) -> String {
        let n = self.shared.next_msg.fetch_add(1, Ordering::Relaxed);
        let msg_id = format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n);
        let sent_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if !self.delivers(viewer) {
            return msg_id;
        }
        let line = privmsg_line(channel, &room_id(channel), viewer, text, &msg_id, sent_ms);
        let line = format!("@bits={bits};{}", line.trim_start_matches('@'));
        self.send_to_channel(channel, line).await;
        msg_id
    }

    /// Sends a raw line to every client in `channel` (waits if a client reads slowly).
    pub async fn send_to_channel(&self, channel: &str, line: String) {
        if let Some(mirror) = self.shared.mirror.get() {
            let _ = mirror.send(line.clone()).await;
        }
        let channel = channel.trim_start_matches('#').to_ascii_lowercase();
        let targets: Vec<mpsc::Sender<Out>> = self
            .shared
            .clients()
            .iter()
            .filter(|c| c.channels.contains(&channel))
            .map(|c| c.tx.clone())
            .collect();
        for tx in targets {
            let _ = tx.send(Out::Line(line.clone())).await;
        }
    }

    /// Sends a raw line to every connected client.
    pub async fn broadcast(&self, line: &str) {
        let targets: Vec<_> = self.shared.clients().iter().map(|c| c.tx.clone()).collect();
        for tx in targets {
            let _ = tx.send(Out::Line(line.to_string())).await;
        }
    }

    /// Twitch's `RECONNECT`: clients should reconnect; the fake then closes them.
    pub async fn reconnect_all(&self) {
        self.broadcast(":tmi.twitch.tv RECONNECT").await;
        self.drop_all().await;
    }

    /// Drops every connection without a word, as a network failure would.
    pub async fn drop_all(&self) {
        let targets: Vec<_> = self.shared.clients().drain(..).map(|c| c.tx).collect();
        for tx in targets {
            let _ = tx.send(Out::Close).await;
        }
    }
}

/// Where a message the bot sent with Send Chat Message (`POST /chat/messages`, the fake Helix's
/// [`super::chat_send`]) enters this fake's room. Cheap to clone.
#[derive(Clone)]
pub struct ChatRoom(Arc<Shared>);

impl std::fmt::Debug for ChatRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChatRoom { .. }")
    }
}

impl FakeChat {
    /// The room's entrance for messages sent over Helix (give it to
    /// [`super::FakeTwitchApi::post_chat_to`]).
    pub fn room(&self) -> ChatRoom {
        ChatRoom(self.shared.clone())
    }
}

impl ChatRoom {
    /// `login` was made a moderator of the channel (or no longer is): from now on the USERSTATE
    /// Twitch answers its messages with carries the `moderator` badge (or not), as on Twitch.
    pub fn set_moderator(&self, login: &str, moderator: bool) {
        self.0
            .moderators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(login.to_ascii_lowercase(), moderator);
    }

    /// `sender` says `text` in `channel`, in the thread of `reply_to` when given: watchers of
    /// [`FakeChat::subscribe`] see the PRIVMSG the sender would have written over IRC, and
    /// every client in the channel receives it with Twitch's tags. Returns the message id.
    pub fn post(
        &self,
        channel: &str,
        sender: &Viewer,
        text: &str,
        reply_to: Option<&str>,
    ) -> String {
        let n = self.0.next_msg.fetch_add(1, Ordering::Relaxed);
        let msg_id = format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n);
        let channel = channel.trim_start_matches('#').to_ascii_lowercase();
        let reply_tag = reply_to.map(|id| format!("@reply-parent-msg-id={id} "));
        let _ = self.0.from_clients.send(ClientLine {
            conn: 0,
            login: sender.login.clone(),
            line: format!(
                "{}PRIVMSG #{channel} :{text}",
                reply_tag.as_deref().unwrap_or("")
            ),
        });
        let sent_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut line = privmsg_line(&channel, &room_id(&channel), sender, text, &msg_id, sent_ms);
        if let Some(id) = reply_to {
            line = line.replacen('@', &format!("@reply-parent-msg-id={id};"), 1);
        }
        // EventSub chat sessions see it too: the sender's own echo included.
        if let Some(mirror) = self.0.mirror.get() {
            let _ = mirror.try_send(line.clone());
        }
        for c in self
            .0
            .clients()
            .iter()
            .filter(|c| c.channels.contains(&channel))
        {
            let _ = c.tx.try_send(Out::Line(line.clone()));
        }
        msg_id
    }
}

async fn accept_loop(
    listener: TcpListener,
    websocket: bool,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if websocket {
                if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                    serve_ws(ws, shared, stop).await;
                }
            } else {
                serve_tcp(stream, shared, stop).await;
            }
        });
    }
}

fn register(shared: &Shared) -> (u64, mpsc::Receiver<Out>) {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(16_384);
    shared.clients().push(Client {
        conn,
        login: String::new(),
        channels: HashSet::new(),
        tx,
    });
    (conn, rx)
}

fn unregister(shared: &Shared, conn: u64) {
    shared.clients().retain(|c| c.conn != conn);
}

async fn serve_tcp(stream: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let (conn, mut rx) = register(&shared);
    let mut session = Session::new(conn);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            out = rx.recv() => match out {
                Some(Out::Line(line)) => {
                    let mut buf = line.into_bytes();
                    buf.extend_from_slice(b"\r\n");
                    // Coalesce whatever else is queued into one write.
                    while buf.len() < 64 * 1024 {
                        match rx.try_recv() {
                            Ok(Out::Line(more)) => { buf.extend_from_slice(more.as_bytes()); buf.extend_from_slice(b"\r\n"); }
                            Ok(Out::Close) => { let _ = write.write_all(&buf).await; unregister(&shared, conn); return; }
                            Err(_) => break,
                        }
                    }
                    if write.write_all(&buf).await.is_err() { break; }
                }
                Some(Out::Close) | None => break,
            },
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let replies = session.handle(&shared, line.trim_end_matches('\r'));
                    let mut buf = Vec::new();
                    for r in &replies.lines { buf.extend_from_slice(r.as_bytes()); buf.extend_from_slice(b"\r\n"); }
                    if !buf.is_empty() && write.write_all(&buf).await.is_err() { break; }
                    if replies.close { break; }
                }
                _ => break,
            },
        }
    }
    unregister(&shared, conn);
}

async fn serve_ws(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let (mut sink, mut stream) = ws.split();
    let (conn, mut rx) = register(&shared);
    let mut session = Session::new(conn);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            out = rx.recv() => match out {
                Some(Out::Line(line)) => {
                    // Twitch may put several lines in one frame; do the same for what is queued.
                    let mut frame = line;
                    frame.push_str("\r\n");
                    while frame.len() < 16 * 1024 {
                        match rx.try_recv() {
                            Ok(Out::Line(more)) => { frame.push_str(&more); frame.push_str("\r\n"); }
                            Ok(Out::Close) => { let _ = sink.send(Message::text(frame)).await; unregister(&shared, conn); return; }
                            Err(_) => break,
                        }
                    }
                    if sink.send(Message::text(frame)).await.is_err() { break; }
                }
                Some(Out::Close) | None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let mut close = false;
                    let mut frame = String::new();
                    for line in text.as_str().split('\n') {
                        let line = line.trim_end_matches('\r');
                        if line.is_empty() { continue; }
                        let replies = session.handle(&shared, line);
                        for r in replies.lines { frame.push_str(&r); frame.push_str("\r\n"); }
                        close |= replies.close;
                    }
                    if !frame.is_empty() && sink.send(Message::text(frame)).await.is_err() { break; }
                    if close { break; }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Binary(_))) => {}
                _ => break,
            },
        }
    }
    unregister(&shared, conn);
}

struct Replies {
    lines: Vec<String>,
    close: bool,
}

struct Session {
    conn: u64,
    token: Option<String>,
    nick: Option<String>,
    logged_in: bool,
}

impl Session {
    fn new(conn: u64) -> Session {
        Session {
            conn,
            token: None,
            nick: None,
            logged_in: false,
        }
    }

    fn handle(&mut self, shared: &Shared, raw: &str) -> Replies {
        let mut out = Replies {
            lines: Vec::new(),
            close: false,
        };
        let Ok(line) = IrcLine::parse(raw) else {
            return out;
        };
        let _ = shared.from_clients.send(ClientLine {
            conn: self.conn,
            login: self.nick.clone().unwrap_or_default(),
            line: raw.to_string(),
        });
        let nick = self.nick.clone().unwrap_or_else(|| "*".into());
        match line.command() {
            "PASS" => {
                self.token = line
                    .param(0)
                    .map(|t| t.trim_start_matches("oauth:").to_string())
            }
            "NICK" => {
                let Some(n) = line.param(0) else { return out };
                let n = n.to_ascii_lowercase();
                if let Some(accepted) = &shared.options.accepted_token
                    && self.token.as_deref() != Some(accepted.as_str())
                {
                    out.lines
                        .push(":tmi.twitch.tv NOTICE * :Login authentication failed".into());
                    out.close = true;
                    return out;
                }
                self.nick = Some(n.clone());
                self.logged_in = true;
                shared.logins.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = shared.clients().iter_mut().find(|c| c.conn == self.conn) {
                    c.login = n.clone();
                }
                for (code, text) in [
                    ("001", "Welcome, GLHF!"),
                    ("002", "Your host is tmi.twitch.tv"),
                    ("003", "This server is rather new"),
                    ("004", "-"),
                    ("375", "-"),
                    ("372", "You are in a maze of twisty passages, all alike."),
                    ("376", ">"),
                ] {
                    out.lines.push(format!(":tmi.twitch.tv {code} {n} :{text}"));
                }
            }
            "CAP" if line.param(0) == Some("REQ") => {
                let caps = line.trailing().unwrap_or_default();
                out.lines.push(format!(":tmi.twitch.tv CAP * ACK :{caps}"));
            }
            "PING" => {
                let token = line.trailing().unwrap_or("tmi.twitch.tv");
                out.lines
                    .push(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{token}"));
            }
            "JOIN" if self.logged_in => {
                for chan in line.param(0).unwrap_or_default().split(',') {
                    let chan = chan.trim_start_matches('#').to_ascii_lowercase();
                    if chan.is_empty() {
                        continue;
                    }
                    if let Some(c) = shared.clients().iter_mut().find(|c| c.conn == self.conn) {
                        c.channels.insert(chan.clone());
                    }
                    out.lines
                        .push(format!(":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{chan}"));
                    out.lines.push(format!(
                        ":{nick}.tmi.twitch.tv 353 {nick} = #{chan} :{nick}"
                    ));
                    out.lines.push(format!(
                        ":{nick}.tmi.twitch.tv 366 {nick} #{chan} :End of /NAMES list"
                    ));
                    out.lines.push(self.userstate(shared, &chan));
                    out.lines.push(format!(
                        "@emote-only=0;followers-only=-1;r9k=0;room-id={};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{chan}",
                        room_id(&chan)
                    ));
                }
            }
            "PART" if self.logged_in => {
                let chan = line
                    .param(0)
                    .unwrap_or_default()
                    .trim_start_matches('#')
                    .to_ascii_lowercase();
                if let Some(c) = shared.clients().iter_mut().find(|c| c.conn == self.conn) {
                    c.channels.remove(&chan);
                }
                out.lines
                    .push(format!(":{nick}!{nick}@{nick}.tmi.twitch.tv PART #{chan}"));
            }
            "PRIVMSG" if self.logged_in => {
                let chan = line
                    .param(0)
                    .unwrap_or_default()
                    .trim_start_matches('#')
                    .to_ascii_lowercase();
                // Twitch answers every message the bot sends with its USERSTATE.
                out.lines.push(self.userstate(shared, &chan));
            }
            "PONG" | "QUIT" => {}
            other if self.logged_in => {
                out.lines.push(format!(
                    ":tmi.twitch.tv 421 {nick} {other} :Unknown command"
                ));
            }
            _ => {}
        }
        out
    }

    fn userstate(&self, shared: &Shared, chan: &str) -> String {
        let nick = self.nick.as_deref().unwrap_or("*");
        let told = shared
            .moderators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&nick.to_ascii_lowercase())
            .copied();
        let badges = match told {
            None => shared.options.bot_badges.clone(),
            Some(true) if !shared.options.bot_badges.contains("moderator/") => {
                match shared.options.bot_badges.as_str() {
                    "" => "moderator/1".to_string(),
                    other => format!("moderator/1,{other}"),
                }
            }
            Some(true) => shared.options.bot_badges.clone(),
            Some(false) => shared
                .options
                .bot_badges
                .split(',')
                .filter(|b| !b.starts_with("moderator/"))
                .collect::<Vec<_>>()
                .join(","),
        };
        let is_mod = u8::from(badges.contains("moderator/"));
        format!(
            "@badge-info=;badges={badges};color=;display-name={nick};emote-sets=0;mod={is_mod};subscriber=0;user-type={} :tmi.twitch.tv USERSTATE #{chan}",
            if is_mod == 1 { "mod" } else { "" }
        )
    }
}
