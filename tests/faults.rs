//! Fault injection: the chat socket dropped or told to RECONNECT in the middle of a flood, and
//! a server that stops reading. The bot must keep running, lose nothing that reached it, and
//! keep its memory bounded.

mod common;
mod peers;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use twitch_bot::sim::{FakeChat, FakeChatOptions, Viewer};

const VIEWERS: usize = 40;

fn viewers() -> Vec<Viewer> {
    (0..VIEWERS)
        .map(|i| Viewer::new(&format!("viewer{i:02}")))
        .collect()
}

/// Messages counted for the flood's viewers in the database.
fn counted(bot: &TestBot, viewers: &[Viewer]) -> u64 {
    let storage = bot.storage().expect("storage");
    viewers
        .iter()
        .filter_map(|v| storage.user(&v.id).ok().flatten())
        .map(|u| u.messages)
        .sum()
}

/// Floods `n` messages through the fake, round-robin over `viewers`.
async fn flood(fake: &FakeChat, viewers: &[Viewer], n: usize, tag: &str) {
    for i in 0..n {
        fake.chat(
            CHANNEL,
            &viewers[i % viewers.len()],
            &format!("{tag} message number {i} Kappa"),
        )
        .await;
    }
}

/// The fault in the middle of a flood: every message sent before and after it is counted, the
/// bot rejoins by itself and still answers commands.
async fn survives_mid_flood(fault: impl AsyncFnOnce(&FakeChat)) {
    let fake = FakeChat::start(FakeChatOptions::default())
        .await
        .expect("fake chat starts");
    let mut lines = fake.subscribe();
    let mut cfg = config(&fake.irc_url());
    cfg.moderation.enabled = false; // a flood from 40 viewers would trip the flood filter
    let bot = start(cfg).await;
    assert!(eventually(5, || fake.joined(CHANNEL) == 1).await);
    let viewers = viewers();
    flood(&fake, &viewers, 1_500, "before").await;
    fault(&fake).await;
    assert!(
        eventually(20, || fake.logins() == 2 && fake.joined(CHANNEL) == 1).await,
        "the bot logs in again and rejoins"
    );
    flood(&fake, &viewers, 1_500, "after").await;
    assert!(
        eventually(10, || counted(&bot, &viewers) == 3_000).await,
        "every message that reached the bot is counted: {} of 3000",
        counted(&bot, &viewers)
    );
    fake.chat(CHANNEL, &Viewer::new("late"), "!ping").await;
    let reply = next_privmsg(&mut lines, 10).await;
    assert_eq!(reply.map(|m| m.text).as_deref(), Some("pong"));
    bot.bot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dropped_mid_flood_loses_nothing_that_arrived() {
    survives_mid_flood(async |fake: &FakeChat| fake.drop_all().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_mid_flood_loses_nothing_that_arrived() {
    survives_mid_flood(async |fake: &FakeChat| fake.reconnect_all().await).await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A hand-written chat server that welcomes the bot, floods it with commands and then never
/// reads again: the bot's replies pile up in the kernel's buffers until its writes time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_reading_cannot_grow_the_bot_s_memory() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut cfg = config(&format!("irc://{addr}"));
    cfg.bot.chat.rate_limit = twitch_bot::config::bot::RateLimit::Unlimited;
    // A silent server is probed after 3 s; no PONG (or a write stuck) for 2 s ends the session.
    cfg.bot.chat.ping_interval_secs = 3;
    cfg.bot.chat.ping_timeout_secs = 2;
    cfg.bot.chat.outgoing_queue = 256;
    let (conns_tx, conns_rx) = std::sync::mpsc::channel();
    let (replies_tx, replies_rx) = std::sync::mpsc::channel::<()>();
    // The server: on the first connection it floods and stops reading; on the next it reads.
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let _ = conns_tx.send(n);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line.starts_with("JOIN") {
                    let welcome = format!(
                        ":{BOT}!{BOT}@{BOT}.tmi.twitch.tv JOIN #{CHANNEL}\r\n\
                         @badges=;mod=0 :tmi.twitch.tv USERSTATE #{CHANNEL}\r\n\
                         @room-id=1 :tmi.twitch.tv ROOMSTATE #{CHANNEL}\r\n"
                    );
                    let _ = writer.write_all(welcome.as_bytes());
                    break;
                }
                if line.starts_with("NICK") {
                    let _ = writer.write_all(b":tmi.twitch.tv 001 testbot :Welcome, GLHF!\r\n");
                }
            }
            if n == 0 {
                // Its own thread, so the next connection is accepted meanwhile.
                std::thread::spawn(move || {
                    // Flood commands, then never read again (the thread keeps the socket open).
                    for i in 0..20_000 {
                        let msg = format!(
                            "@badges=;display-name=V{i};id=m{i};room-id=1;user-id={};tmi-sent-ts=1 \
                         :v{i}!v{i}@v{i}.tmi.twitch.tv PRIVMSG #{CHANNEL} :!big\r\n",
                            100_000 + i % 500
                        );
                        if writer.write_all(msg.as_bytes()).is_err() {
                            break;
                        }
                    }
                    std::thread::sleep(Duration::from_secs(60));
                    drop(reader);
                });
                continue;
            }
            // Later connections: read everything, noting the bot's chat lines.
            let replies = replies_tx.clone();
            std::thread::spawn(move || {
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line.starts_with("PRIVMSG") {
                        let _ = replies.send(());
                    }
                    line.clear();
                }
            });
        }
    });
    // A command with a long answer, so the replies overflow the kernel's socket buffers.
    let (mut settings, data) = settings();
    let scripts = data.path().join("scripts");
    std::fs::create_dir_all(scripts.join("commands")).expect("scripts dir");
    std::fs::write(
        scripts.join("commands/big.rhai"),
        format!("fn run(ctx) {{ ctx.say(\"{}\"); }}\n", "y".repeat(450)),
    )
    .expect("script");
    settings.scripts_dir = scripts;
    let before = rss_kib();
    let bot = TestBot {
        bot: twitch_bot::app::Bot::start(settings, cfg)
            .await
            .expect("bot starts"),
        data,
    };
    // Every message the server sent is read and counted, although no reply can leave.
    let storage = bot.storage().expect("storage").clone();
    let counted = || -> u64 {
        (0..500)
            .filter_map(|i| storage.user(&(100_000 + i).to_string()).ok().flatten())
            .map(|u| u.messages)
            .sum()
    };
    assert!(
        eventually(30, || counted() == 20_000).await,
        "the stuck writer does not stop the reader: {} of 20000 counted",
        counted()
    );
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "memory stays bounded while the server does not read: grew {grown_mib} MiB"
    );
    let mut connections = 0;
    while conns_rx.recv_timeout(Duration::from_secs(15)).is_ok() {
        connections += 1;
        if connections == 2 {
            break;
        }
    }
    assert_eq!(
        connections, 2,
        "the bot gives up on the stuck link and connects again"
    );
    assert!(
        replies_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "replies waiting in the bot's bounded queue go out on the new connection"
    );
    bot.bot.shutdown().await;
}

/// A tiny tmpfs mounted for one test (root only), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            peers::skipped("cannot mount a small tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn remount(&self, how: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {how}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

fn storage_at(dir: &std::path::Path) -> Result<Storage, twitch_bot::storage::StorageError> {
    let mut options = StorageOptions::new(dir);
    options.backup_on_open = false;
    Storage::open(options)
}

fn award(s: &Storage, id: &str, n: i64) -> Result<u64, twitch_bot::storage::StorageError> {
    s.with_points(|p| {
        p.touch(id, &format!("user{id}"), &format!("User{id}"))?;
        p.change(id, n, "test").map(|r| r.balance)
    })
}

use twitch_bot::storage::{Storage, StorageOptions};

#[test]
fn a_full_disk_is_a_clear_error_and_corrupts_nothing() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let data = disk.path().join("data");
    {
        let s = storage_at(&data).expect("opens on an empty disk");
        assert_eq!(award(&s, "1", 100).expect("award"), 100);
    }
    // Fill the disk to the last byte.
    let filler = disk.path().join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![7u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let mut refused = None;
    match storage_at(&data) {
        Err(e) => refused = Some(e.to_string()),
        Ok(s) => {
            // New viewers until the file must grow past the last free byte.
            for i in 0..50_000 {
                if let Err(e) = award(&s, &format!("{}", 1_000 + i), 1) {
                    refused = Some(e.to_string());
                    break;
                }
            }
        }
    }
    let why = refused.expect("a write fails once the disk is full");
    eprintln!("full disk: {why}");
    {
        assert!(
            why.to_lowercase().contains("space") || why.contains("os error 28"),
            "the error says the disk is full: {why}"
        );
    }
    // Space again: the file opens and the committed points are intact.
    std::fs::remove_file(&filler).expect("free the disk");
    let s = storage_at(&data).expect("the database opens after the disk filled up");
    assert_eq!(s.get("1").expect("read"), 100, "committed points survive");
    assert_eq!(award(&s, "1", 5).expect("writes work again"), 105);
}

#[test]
fn a_read_only_data_folder_is_refused_with_a_clear_error() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let data = disk.path().join("data");
    {
        let s = storage_at(&data).expect("opens");
        award(&s, "1", 100).expect("award");
    }
    disk.remount("ro");
    let err = match storage_at(&data) {
        Ok(s) => {
            // redb may open a read-only file; then every write must fail cleanly.
            award(&s, "1", 1).expect_err("no write on a read-only disk")
        }
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        text.contains("Read-only") || text.contains("read-only") || text.contains("os error 30"),
        "the error says the folder is read-only: {text}"
    );
    disk.remount("rw");
    let s = storage_at(&data).expect("opens again");
    assert_eq!(s.get("1").expect("read"), 100);
}
