//! Storage, import, cache and loyalty against real redb files in temporary folders.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use redb::{ReadableDatabase, TableDefinition};
use twitch_bot::cache::Cache;
use twitch_bot::event::{ChannelEvent, ChannelEventKind, Chatter, EventSource, Roles};
use twitch_bot::import::{self, ImportError};
use twitch_bot::loyalty::{Loyalty, LoyaltyRules, TickOutcome};
use twitch_bot::storage::{Applied, SCHEMA_VERSION, Storage, StorageError, StorageOptions};

fn opts(dir: &Path) -> StorageOptions {
    let mut o = StorageOptions::new(dir);
    o.backup_on_open = false;
    o
}

fn open(dir: &Path) -> Storage {
    Storage::open(opts(dir)).unwrap()
}

#[test]
fn points_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.record_chat("100", "alice", "Alice");
        assert_eq!(s.add("100", 250, "test").unwrap(), 250);
        assert_eq!(s.take("100", 50, "shop").unwrap(), 200);
        s.close().unwrap();
    }
    let s = open(dir.path());
    assert_eq!(s.get("100").unwrap(), 200);
    let u = s.user("100").unwrap().unwrap();
    assert_eq!((u.login.as_str(), u.messages), ("alice", 1));
    assert_eq!(
        s.user_id_by_login("@Alice").unwrap().as_deref(),
        Some("100")
    );
    let audit = s.audit_for("100").unwrap();
    let deltas: Vec<i64> = audit.iter().map(|(_, e)| e.delta).collect();
    assert_eq!(deltas, vec![250, -50]);
    assert_eq!(audit.last().unwrap().1.balance, 200);
}

const CHILD_ENV: &str = "TB_STORAGE_KILL_CHILD_DIR";
const USERS: u64 = 5;

/// Child mode: award one point per event to rotating users, print each committed award.
fn run_award_child(dir: &str) {
    let s = open(Path::new(dir));
    for i in 0..1_000_000u64 {
        let user = format!("u{}", i % USERS);
        s.record_chat(&user, &user, &user);
        let r = s
            .award_for_event(&format!("ev-{i}"), &user, 1, "test")
            .unwrap();
        if let Applied::Done(receipt) = r {
            println!("AWARD ev-{i} {user} {}", receipt.balance);
        }
    }
}

#[test]
fn sigkill_mid_stream_keeps_every_committed_point_and_pays_no_event_twice() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_award_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_mid_stream_keeps_every_committed_point_and_pays_no_event_twice",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("AWARD ") {
            let parts: Vec<&str> = rest.split(' ').collect();
            printed.push((
                parts[0].to_string(),
                parts[1].to_string(),
                parts[2].parse::<u64>().unwrap(),
            ));
            if printed.len() == 400 {
                // std's kill() is SIGKILL on Unix: no destructors, no flush.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(printed.len(), 400, "the child stopped before being killed");

    let s = open(dir.path());
    // Every award the child reported is on disk, and its balance at least what it reported.
    for (ev, user, balance) in &printed {
        assert!(s.is_processed(ev).unwrap(), "{ev} lost");
        assert!(s.get(user).unwrap() >= *balance);
    }
    // Events possibly committed after the last print, then far beyond: re-applying all of them
    // pays exactly the ones never applied, so each user ends with exactly one point per event.
    let last = 450u64.max(printed.len() as u64 + 100);
    let mut duplicates = 0;
    for i in 0..last {
        let user = format!("u{}", i % USERS);
        match s
            .award_for_event(&format!("ev-{i}"), &user, 1, "test")
            .unwrap()
        {
            Applied::Duplicate => duplicates += 1,
            Applied::Done(_) => {}
        }
    }
    assert!(
        duplicates >= printed.len(),
        "a printed award was paid twice"
    );
    for u in 0..USERS {
        let expected = (0..last).filter(|i| i % USERS == u).count() as u64;
        assert_eq!(s.get(&format!("u{u}")).unwrap(), expected, "user u{u}");
    }
}

#[test]
fn two_threads_taking_points_never_drive_a_balance_negative() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.add("42", 150, "seed").unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut ok = 0;
                let mut refused = 0;
                for _ in 0..100 {
                    match s.take("42", 1, "spend") {
                        Ok(_) => ok += 1,
                        Err(StorageError::InsufficientPoints {
                            balance: 0,
                            needed: 1,
                        }) => refused += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    let (ok, refused) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!((ok, refused), (150, 50));
    assert_eq!(s.get("42").unwrap(), 0);
    // A take that does not fit changes nothing, also in a transfer.
    s.add("42", 10, "seed").unwrap();
    assert!(matches!(
        s.transfer("42", "43", 11, "give"),
        Err(StorageError::InsufficientPoints {
            balance: 10,
            needed: 11
        })
    ));
    assert_eq!((s.get("42").unwrap(), s.get("43").unwrap()), (10, 0));
    assert_eq!(s.transfer("42", "43", 4, "give").unwrap(), (6, 4));
}

#[test]
fn refunds_apply_once_and_leaderboard_hides_opted_out_viewers() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for (id, login, pts) in [("1", "ann", 30), ("2", "ben", 20), ("3", "cat", 10)] {
        s.record_chat(id, login, login);
        s.add(id, pts, "seed").unwrap();
    }
    s.flush().unwrap();
    let receipt = s.take_with_receipt("1", 25, "reward: hydrate").unwrap();
    assert_eq!(receipt.balance, 5);
    assert_eq!(
        s.refund(receipt.audit_id, "refund").unwrap(),
        Applied::Done(30)
    );
    assert_eq!(
        s.refund(receipt.audit_id, "refund").unwrap(),
        Applied::Duplicate
    );
    s.set_opt_out("2", true).unwrap();
    let board: Vec<String> = s
        .leaderboard(10)
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    assert_eq!(board, vec!["ann", "cat"]);
    // An opted-out viewer earns nothing from events.
    assert!(matches!(
        s.award_for_event("ev-x", "2", 100, "follow").unwrap(),
        Applied::Done(r) if r.balance == 20
    ));
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_malformed_csv_reports_line_numbers_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.record_chat("1", "alice", "Alice");
    s.add("1", 7, "seed").unwrap();
    let file = write(
        dir.path(),
        "se.csv",
        "username,points,alltime\nalice,100,100\nbob,lots,1\nnot a login!,5,5\ncarol,3\ndave,4,4\n",
    );
    let err = import::import_file(&s, &file, |_, _| {}).unwrap_err();
    let ImportError::BadRows { rows, .. } = &err else {
        panic!("{err}")
    };
    let lines: Vec<usize> = rows.0.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    let msg = err.to_string();
    assert!(
        msg.contains("line 3: `lots` is not a whole number"),
        "{msg}"
    );
    assert_eq!(s.get("1").unwrap(), 7);
    assert_eq!(s.user_id_by_login("dave").unwrap(), None);
}

#[test]
fn importing_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.record_chat("1", "alice", "Alice");
    s.add("1", 7, "seed").unwrap();
    s.flush().unwrap();
    let file = write(
        dir.path(),
        "slcb.csv",
        "Name,Rank,Points,Hours\r\nAlice,Regular,100,12.5\r\n\"bob\",Viewer,40,1\r\n",
    );
    let first = import::import_file(&s, &file, |_, _| {}).unwrap();
    assert_eq!((first.totals.changed, first.totals.new_users), (2, 1));
    assert_eq!(s.get("1").unwrap(), 107);
    let second = import::import_file(&s, &file, |_, _| {}).unwrap();
    assert_eq!((second.totals.changed, second.totals.unchanged), (0, 2));
    assert_eq!(s.get("1").unwrap(), 107);
    // bob is known only by login until he chats; then his imported points follow his id.
    s.record_chat("2", "bob", "Bob");
    s.flush().unwrap();
    assert_eq!(s.get("2").unwrap(), 40);
    assert_eq!(s.user_id_by_login("bob").unwrap().as_deref(), Some("2"));
    let third = import::import_file(&s, &file, |_, _| {}).unwrap();
    assert_eq!(third.totals.changed, 0);
    assert_eq!(s.get("2").unwrap(), 40);
}

#[test]
fn per_message_counters_are_committed_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for _ in 0..3 {
        s.record_chat("9", "zed", "Zed");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let u = s
        .stored_user("9")
        .unwrap()
        .expect("not committed after a second");
    assert_eq!((u.messages, u.login.as_str()), (3, "zed"));
}

#[tokio::test(start_paused = true)]
async fn cache_entries_expire_and_the_size_bound_holds() {
    let cache = Cache::new(3);
    cache.set_str("short", "a", Some(Duration::from_secs(10)));
    cache.set(
        "long",
        serde_json::json!({"n": 1}),
        Some(Duration::from_secs(60)),
    );
    cache.set_str("forever", "c", None);
    assert_eq!(cache.get_str("short").as_deref(), Some("a"));
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(cache.get("short"), None);
    assert_eq!(cache.get("long"), Some(serde_json::json!({"n": 1})));
    // The sweeper removes expired entries, not just hides them.
    let cancel = tokio_util::sync::CancellationToken::new();
    let sweeper = cache.spawn_sweeper(Duration::from_secs(5), cancel.clone());
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::task::yield_now().await;
    assert_eq!(cache.len(), 2);
    // Full: the entry expiring soonest makes room; the one without a lifespan stays.
    cache.set_str("x", "1", Some(Duration::from_secs(100)));
    cache.set_str("y", "2", Some(Duration::from_secs(100)));
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.get("long"), None);
    assert_eq!(cache.get_str("forever").as_deref(), Some("c"));
    cancel.cancel();
    sweeper.await.unwrap();
}

/// Waits (in real time: the tick commits on a blocking thread) until `user`'s balance is
/// `want`, and returns their watch seconds.
async fn balance_reaches(s: &Storage, user: &str, want: u64) -> u64 {
    for _ in 0..500 {
        tokio::task::yield_now().await;
        if s.get(user).unwrap() == want {
            return s.user(user).unwrap().map_or(0, |u| u.watch_secs);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("balance of {user} is {}, not {want}", s.get(user).unwrap());
}

#[tokio::test(start_paused = true)]
async fn the_part_interval_is_paid_when_the_stream_ends_and_when_the_bot_stops() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    // 10 points per 10 minutes, live only.
    let loyalty = Arc::new(Loyalty::new(LoyaltyRules::default()));
    let cancel = tokio_util::sync::CancellationToken::new();
    let ticker = loyalty
        .clone()
        .spawn_ticker(s.clone(), None, cancel.clone());
    tokio::task::yield_now().await;
    // Chat before the stream does not count once it goes live.
    loyalty.note_chat(&viewer("1", Roles::empty()));
    tokio::time::advance(Duration::from_secs(120)).await;
    loyalty.set_live(true);
    tokio::task::yield_now().await;
    loyalty.note_chat(&viewer("2", Roles::empty()));
    tokio::time::advance(Duration::from_secs(600)).await;
    assert_eq!(balance_reaches(&s, "2", 10).await, 600);
    assert_eq!(s.get("1").unwrap(), 0, "chatted before the stream");

    // The stream ends 5 minutes into the next interval: half the points, 300 s of watch time.
    loyalty.note_chat(&viewer("2", Roles::empty()));
    tokio::time::advance(Duration::from_secs(300)).await;
    loyalty.set_live(false);
    assert_eq!(balance_reaches(&s, "2", 15).await, 900);

    // Offline: nothing, however long.
    loyalty.note_chat(&viewer("2", Roles::empty()));
    tokio::time::advance(Duration::from_secs(1_800)).await;
    tokio::task::yield_now().await;
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(s.get("2").unwrap(), 15);

    // Live again; the bot stops 3 minutes in: a subscriber (x2) is paid 6 points for it.
    loyalty.set_live(true);
    tokio::task::yield_now().await;
    loyalty.note_chat(&viewer("3", Roles::SUBSCRIBER));
    tokio::time::advance(Duration::from_secs(180)).await;
    cancel.cancel();
    ticker.await.unwrap();
    assert_eq!(s.get("3").unwrap(), 6);
    assert_eq!(s.user("3").unwrap().unwrap().watch_secs, 180);
    assert_eq!(s.get("2").unwrap(), 15);
}

/// A schema-2 user row: format byte 2, first seen, last seen, messages, watch seconds and
/// points (little-endian u64), flags, then login and display name with one-byte lengths.
fn v2_row(counters: [u64; 5], opted_out: bool, login: &str, display: &str) -> Vec<u8> {
    let mut row = vec![2u8];
    for n in counters {
        row.extend_from_slice(&n.to_le_bytes());
    }
    row.push(u8::from(opted_out));
    for s in [login, display] {
        row.push(s.len() as u8);
        row.extend_from_slice(s.as_bytes());
    }
    row
}

#[test]
fn a_schema_2_file_is_split_into_profiles_and_balances_with_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(V1_META)
                .unwrap()
                .insert("schema_version", 2)
                .unwrap();
            let mut users = txn.open_table(V1_USERS).unwrap();
            let rows = [
                (
                    "10",
                    v2_row([100, 200, 7, 1_200, 340], false, "alice", "Alice"),
                ),
                ("11", v2_row([100, 300, 2, 600, 900], true, "bob", "Bob")),
                ("12", v2_row([50, 60, 1, 0, 0], false, "carol", "Carol")),
            ];
            for (id, row) in &rows {
                users.insert(*id, row.as_slice()).unwrap();
            }
            let logins: TableDefinition<&str, &str> = TableDefinition::new("logins");
            let mut logins = txn.open_table(logins).unwrap();
            for (login, id) in [("alice", "10"), ("bob", "11"), ("carol", "12")] {
                logins.insert(login, id).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let s = Storage::open(StorageOptions::new(dir.path())).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let alice = s.user("10").unwrap().unwrap();
    assert_eq!(
        (
            alice.points,
            alice.watch_secs,
            alice.messages,
            alice.first_seen,
            alice.last_seen,
            alice.display_name.as_str()
        ),
        (340, 1_200, 7, 100, 200, "Alice")
    );
    let bob = s.user("11").unwrap().unwrap();
    assert!(bob.opted_out);
    assert_eq!(s.get("11").unwrap(), 900);
    // The opted-out viewer stays off the board; points still move and survive a reopen.
    let board: Vec<String> = s
        .leaderboard(5)
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(board, ["10"]);
    s.add("12", 5, "test").unwrap();
    drop(s);
    let s = open(dir.path());
    assert_eq!((s.get("12").unwrap(), s.get("10").unwrap()), (5, 340));
    assert_eq!(s.user_id_by_login("carol").unwrap().as_deref(), Some("12"));
    drop(s);
    let beside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("bot.v2-") && n.ends_with(".redb.bak")
        })
        .count();
    assert_eq!(
        beside, 1,
        "the schema-2 file is kept beside the migrated one"
    );
}

const V1_META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const V1_USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const V1_POINTS: TableDefinition<&str, u64> = TableDefinition::new("points");

#[test]
fn an_older_schema_is_migrated_with_a_backup_left_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.redb");
    {
        // A schema-1 file as an older build wrote it: balances in their own table.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(V1_META)
                .unwrap()
                .insert("schema_version", 1)
                .unwrap();
            let mut users = txn.open_table(V1_USERS).unwrap();
            users
                .insert(
                    "1",
                    br#"{"id":"1","login":"old","display_name":"Old","messages":9}"#.as_slice(),
                )
                .unwrap();
            let mut points = txn.open_table(V1_POINTS).unwrap();
            points.insert("1", 500).unwrap();
            points.insert("2", 60).unwrap(); // a balance without a user record
        }
        txn.commit().unwrap();
    }
    let s = Storage::open(StorageOptions::new(dir.path())).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.get("1").unwrap(), 500);
    assert_eq!(s.get("2").unwrap(), 60);
    assert_eq!(s.user("1").unwrap().unwrap().messages, 9);
    assert_eq!(s.user_id_by_login("old").unwrap().as_deref(), Some("1"));
    assert_eq!(s.leaderboard(1).unwrap()[0].id, "1");
    drop(s);
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bot.v1-") && n.ends_with(".redb.bak"))
        .collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
    let old = redb::Database::open(dir.path().join(&beside[0])).unwrap();
    let txn = old.begin_read().unwrap();
    assert_eq!(
        txn.open_table(V1_META)
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap()
            .value(),
        1
    );
    assert_eq!(
        txn.open_table(V1_POINTS)
            .unwrap()
            .get("1")
            .unwrap()
            .unwrap()
            .value(),
        500
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(dir.path().join("bot.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(V1_META)
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Storage::open(opts(dir.path())).unwrap_err();
    assert!(
        matches!(err, StorageError::TooNew { found: 99, .. }),
        "{err}"
    );
}

#[test]
fn backups_rotate_and_a_damaged_file_names_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = StorageOptions::new(dir.path());
    o.keep_backups = 2;
    Storage::open(o.clone())
        .unwrap()
        .add("1", 5, "seed")
        .unwrap();
    for _ in 0..3 {
        let s = Storage::open(o.clone()).unwrap();
        s.backup_now("manual").unwrap();
    }
    let mut backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    backups.sort();
    // Each kind keeps its own two: the start-up copies of the four opens, the manual ones.
    let named = |label: &str| {
        backups
            .iter()
            .filter(|p| p.to_string_lossy().contains(&format!("-{label}")))
            .count()
    };
    assert_eq!((named("start"), named("manual"), backups.len()), (2, 2, 4));
    // A backup is a working database.
    {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(backups.last().unwrap(), copy.path().join("bot.redb")).unwrap();
        assert_eq!(open(copy.path()).get("1").unwrap(), 5);
    }
    std::fs::write(dir.path().join("bot.redb"), vec![0xAB; 8192]).unwrap();
    let err = Storage::open(o).unwrap_err().to_string();
    let newest = backups.last().unwrap().display().to_string();
    assert!(err.contains(&newest), "{err}");
}

fn viewer(id: &str, roles: Roles) -> Chatter {
    Chatter {
        id: id.into(),
        login: format!("v{id}").into(),
        display_name: format!("V{id}").into(),
        roles,
        ..Chatter::default()
    }
}

#[test]
fn loyalty_pays_present_viewers_with_multipliers_only_while_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let loyalty = Arc::new(Loyalty::new(LoyaltyRules::default()));
    loyalty.note_chat(&viewer("1", Roles::empty()));
    loyalty.note_chat(&viewer("2", Roles::SUBSCRIBER));
    assert_eq!(loyalty.tick(&s).unwrap(), TickOutcome::Skipped);
    assert_eq!(s.get("1").unwrap(), 0);

    loyalty.set_live(true);
    loyalty.note_chat(&viewer("1", Roles::empty()));
    loyalty.note_chat(&viewer("2", Roles::SUBSCRIBER));
    assert!(matches!(loyalty.tick(&s).unwrap(), TickOutcome::Paid(p) if p.credited == 2));
    assert_eq!((s.get("1").unwrap(), s.get("2").unwrap()), (10, 20));
    assert_eq!(s.user("2").unwrap().unwrap().watch_secs, 600);
    let trail = s.audit_for("2").unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(
        (
            trail[0].1.delta,
            trail[0].1.balance,
            trail[0].1.reason.as_str()
        ),
        (20, 20, "watch")
    );
    // Nobody chatted since: nobody is present.
    assert!(matches!(loyalty.tick(&s).unwrap(), TickOutcome::Paid(p) if p.credited == 0));
    // Twitch's chatter list adds lurkers without erasing a chatter's roles.
    loyalty.note_chat(&viewer("2", Roles::SUBSCRIBER));
    loyalty.note_lurker(&viewer("2", Roles::empty()));
    loyalty.note_lurker(&viewer("4", Roles::empty()));
    assert!(matches!(loyalty.tick(&s).unwrap(), TickOutcome::Paid(p) if p.credited == 2));
    assert_eq!(
        (s.get("2").unwrap(), s.get("4").unwrap()),
        (40, 10),
        "the subscriber keeps the multiplier; the lurker earns the base rate"
    );

    let follow = ChannelEvent {
        id: "msg-1".into(),
        source: EventSource::EventSub,
        user: Some(viewer("3", Roles::empty())),
        kind: ChannelEventKind::Follow,
    };
    let (award, applied) = loyalty.apply_event(&s, &follow).unwrap().unwrap();
    assert_eq!(award.amount, 50);
    assert!(matches!(applied, Applied::Done(r) if r.balance == 50));
    let (_, again) = loyalty.apply_event(&s, &follow).unwrap().unwrap();
    assert_eq!(again, Applied::Duplicate);
    assert_eq!(s.get("3").unwrap(), 50);
    assert_eq!(s.user_id_by_login("v3").unwrap().as_deref(), Some("3"));
}

#[test]
fn old_event_ids_and_audit_rows_are_pruned_but_young_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert!(s.mark_processed("old").unwrap());
    assert!(!s.mark_processed("old").unwrap());
    s.add("1", 5, "old").unwrap();
    // Whole seconds are stored: 2.1 s apart with a 1 s cut-off separates the two for sure.
    std::thread::sleep(Duration::from_millis(2100));
    s.add("1", 6, "young").unwrap();
    assert!(s.prune_events(Duration::from_secs(3600)).unwrap() == 0);
    assert_eq!(s.prune_events(Duration::from_secs(1)).unwrap(), 1);
    assert!(
        s.mark_processed("old").unwrap(),
        "a pruned id counts as new again"
    );
    assert_eq!(s.prune_audit(Duration::from_secs(1)).unwrap(), 1);
    let reasons: Vec<String> = s
        .audit_for("1")
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.reason)
        .collect();
    assert_eq!(reasons, vec!["young"]);
    assert_eq!(
        s.get("1").unwrap(),
        11,
        "pruning the trail never touches balances"
    );
}

#[test]
fn a_second_opener_is_told_another_bot_holds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Storage::open(opts(dir.path())).unwrap_err().to_string();
    assert!(err.contains("Another twitch-bot"), "{err}");
}

#[test]
fn a_restart_loop_keeps_the_daily_backups_and_a_failed_start_up_backup_does_not_stop_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = StorageOptions::new(dir.path());
    o.keep_backups = 2;
    {
        let s = Storage::open(o.clone()).unwrap();
        s.add("1", 5, "seed").unwrap();
        s.backup_now("daily").unwrap();
        s.backup_now("daily").unwrap();
    }
    // A bot in a restart loop opens the file again and again.
    for _ in 0..5 {
        Storage::open(o.clone()).unwrap().close().unwrap();
    }
    let daily = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().contains("-daily"))
        })
        .count();
    assert_eq!(daily, 2, "start-up copies never push out the daily ones");

    // The backups folder cannot be written (here: a file stands in its place).
    std::fs::remove_dir_all(dir.path().join("backups")).unwrap();
    std::fs::write(dir.path().join("backups"), "not a folder").unwrap();
    let s = Storage::open(o).expect("a failed start-up backup only warns");
    assert_eq!(s.get("1").unwrap(), 5);
}
