//! Per-script store quotas with real Rhai scripts on the real redb file: a script that fills its
//! store gets an error naming itself, the limit and the config key; nothing is half-written; a
//! second script is unaffected; a restart keeps the count (it comes from the file).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use twitch_bot::action::Action;
use twitch_bot::app::services::ScriptStores;
use twitch_bot::config::scripts::ScriptsConfig;
use twitch_bot::event::{ChatMessage, Chatter};
use twitch_bot::scripting::stores::{MemoryCache, MemoryStore, ScriptStore, StoreError};
use twitch_bot::scripting::{HostConfig, Outcome, ScriptHost, Services};
use twitch_bot::storage::{KvQuota, KvUsage, Storage, StorageError, StorageOptions};
use twitch_bot::subsystems::Subsystems;

/// Adds keys until the store refuses, then says how far it got and what the error was.
const FILL: &str = r#"
fn run(ctx) {
    let i = ctx.store.keys().len();
    loop {
        try {
            ctx.store.set(`key${i}`, i);
        } catch (e) {
            ctx.reply(`stopped at ${i}: ${e}`);
            return;
        }
        i += 1;
    }
}
"#;

/// Grows one value until the byte limit refuses it.
const GROW: &str = r#"
fn run(ctx) {
    let text = "x";
    loop {
        text += text;
        try {
            ctx.store.set("blob", text);
        } catch (e) {
            ctx.reply(`kept ${ctx.store.get("blob").len()}: ${e}`);
            return;
        }
    }
}
"#;

const OTHER: &str = r#"
fn run(ctx) {
    ctx.store.set("mine", ctx.store.get("mine", 0) + 1);
    ctx.reply(`other ${ctx.store.get("mine")}`);
}
"#;

fn write(dir: &Path, rel: &str, src: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, src).unwrap();
}

fn open(data: &Path) -> Storage {
    let mut o = StorageOptions::new(data);
    o.backup_on_open = false;
    // The script threads of a stopped host may still hold the file for a moment.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match Storage::open(o.clone()) {
            Ok(s) => return s,
            Err(e) if Instant::now() < until => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}

struct Bot {
    host: Arc<ScriptHost>,
    rx: mpsc::Receiver<Action>,
    n: u32,
}

fn start(scripts: &Path, storage: &Storage, config: &ScriptsConfig) -> Bot {
    let memory = Arc::new(MemoryStore::new());
    let services = Services {
        points: memory.clone(),
        users: memory,
        store: Arc::new(ScriptStores::new(storage.clone(), config)),
        cache: Arc::new(MemoryCache::new()),
        twitch: None,
        http: None,
        integrations: Subsystems::NONE,
        currency: "points".into(),
    };
    let mut host_config = HostConfig::new(scripts, "chan");
    host_config.workers = 1;
    let (tx, rx) = mpsc::channel(64);
    let (host, report) = ScriptHost::start(host_config, services, Arc::new(tx));
    assert_eq!(report.failed, 0, "{report:?}");
    Bot { host, rx, n: 0 }
}

impl Bot {
    fn say(&mut self, text: &str) -> String {
        self.n += 1;
        let msg = ChatMessage::test("viewer", text)
            .id(format!("m{}", self.n))
            .sender(Chatter::test("viewer").user_id("42").display_name("Viewer"));
        assert!(matches!(self.host.handle_chat(&msg), Outcome::Queued(_)));
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match self.rx.try_recv() {
                Ok(Action::Reply { text, .. } | Action::Say { text, .. }) => return text,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    let errors: Vec<String> = self
                        .host
                        .scripts()
                        .iter()
                        .filter_map(|s| s.last_error.as_ref().map(ToString::to_string))
                        .collect();
                    panic!("no answer to {text} ({e:?}); script errors: {errors:#?}")
                }
            }
        }
    }
}

fn small_quota() -> ScriptsConfig {
    ScriptsConfig {
        store_max_keys: 100,
        store_max_bytes: 64 * 1024,
        ..ScriptsConfig::default()
    }
}

#[test]
fn a_full_store_refuses_with_a_clear_error_and_a_restart_keeps_the_count() {
    let scripts = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(scripts.path(), "commands/fill.rhai", FILL);
    write(scripts.path(), "commands/other.rhai", OTHER);
    let config = small_quota();

    let storage = open(data.path());
    let mut bot = start(scripts.path(), &storage, &config);
    let answer = bot.say("!fill");
    println!("{answer}");
    assert!(answer.starts_with("stopped at 100: "), "{answer}");
    for part in [
        "commands/fill",
        "store",
        "101 keys",
        "limit of 100",
        "scripts.store_max_keys",
        "configs/bot.yaml",
        "nothing was written",
    ] {
        assert!(answer.contains(part), "`{part}` missing from: {answer}");
    }
    // Nothing half-written, nothing lost: exactly the 100 keys, the first one intact.
    assert_eq!(storage.kv_keys("commands/fill").unwrap().len(), 100);
    assert_eq!(
        storage.kv_get("commands/fill", "key0").unwrap().as_deref(),
        Some("0")
    );
    assert_eq!(storage.kv_get("commands/fill", "key100").unwrap(), None);
    // Another script has its own quota.
    assert_eq!(bot.say("!other"), "other 1");

    drop(bot);
    storage.close().unwrap();
    drop(storage);

    // After a restart the count comes from the file: still full, at once.
    let storage = open(data.path());
    assert_eq!(
        storage.kv_usage_of("commands/fill").unwrap().keys,
        100,
        "the file holds the 100 keys"
    );
    let mut bot = start(scripts.path(), &storage, &config);
    let answer = bot.say("!fill");
    assert!(answer.starts_with("stopped at 100: "), "{answer}");
    assert_eq!(bot.say("!other"), "other 2");

    // Raising the limit in bot.yaml lets the script go on.
    drop(bot);
    let raised = ScriptsConfig {
        store_max_keys: 150,
        ..small_quota()
    };
    let mut bot = start(scripts.path(), &storage, &raised);
    let answer = bot.say("!fill");
    assert!(answer.starts_with("stopped at 150: "), "{answer}");
}

#[test]
fn a_value_past_the_byte_limit_leaves_the_old_value() {
    let scripts = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(scripts.path(), "commands/grow.rhai", GROW);
    let storage = open(data.path());
    let mut bot = start(scripts.path(), &storage, &small_quota());
    let answer = bot.say("!grow");
    // "blob" plus a JSON string of 32,768 x's fits 64 KiB; 65,536 does not.
    assert!(answer.starts_with("kept 32768: "), "{answer}");
    for part in [
        "commands/grow",
        "limit of 65536",
        "bytes",
        "scripts.store_max_bytes",
    ] {
        assert!(answer.contains(part), "`{part}` missing from: {answer}");
    }
}

#[test]
fn the_quota_is_checked_against_the_file_and_removing_frees_room() {
    let data = tempfile::tempdir().unwrap();
    let storage = open(data.path());
    let quota = KvQuota {
        max_keys: 3,
        max_bytes: 100,
    };
    for k in ["a", "b", "c"] {
        storage.kv_set("s", k, "1", quota).unwrap();
    }
    // Replacing a key adds no key.
    storage.kv_set("s", "a", "22", quota).unwrap();
    let err = storage.kv_set("s", "d", "1", quota).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::StoreFull {
                max: 3,
                would_be: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        storage.kv_usage_of("s").unwrap(),
        KvUsage { keys: 3, bytes: 7 }
    );
    assert!(storage.kv_remove("s", "b").unwrap());
    storage.kv_set("s", "d", "1", quota).unwrap();
    // Another script is counted on its own.
    storage.kv_set("t", "a", "1", quota).unwrap();

    // A lowered limit still lets an over-full store shrink, never grow.
    let lowered = KvQuota {
        max_keys: 1,
        max_bytes: 100,
    };
    storage.kv_set("s", "a", "3", lowered).unwrap();
    assert!(storage.kv_set("s", "e", "1", lowered).is_err());

    // Through the scripts' interface the error names the config key to raise.
    let stores = ScriptStores {
        storage: storage.clone(),
        quota: lowered,
    };
    let err = stores.set("s", "f", serde_json::json!(1)).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Full {
                config_key: "scripts.store_max_keys",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(stores.keys("s").unwrap(), ["a", "c", "d"]);
}
