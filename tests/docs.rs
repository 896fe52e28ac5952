//! The reference in `docs/` against the code it describes: every config key the loader accepts
//! is in `docs/configuration.md` and every key there is accepted; every console route is in
//! `docs/console-api.md` and every endpoint there is served; `--version` names the version and
//! the commit.

mod common;
mod console_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::binary::BotCommand;
use serde_json::Value;
use twitch_bot::config::{
    self, BotConfig, ConfigError, HotkeysConfig, LoyaltyConfig, ModerationConfig, Secrets,
};
use twitch_bot::console::server::{Access, ROUTES};

/// The placeholder a doc row uses for a name the user chooses (`ladders.<name>.steps`).
const NAME: &str = "<name>";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// One config file: its defaults as the loader's structs serialise them, the keys whose value
/// is a map of user-chosen names, and the loader itself.
struct ConfigFile {
    name: &'static str,
    defaults: Value,
    maps: &'static [&'static str],
    parse: fn(&str) -> Vec<ConfigError>,
}

fn errors_of<T>(file: &str, yaml: &str, redact: bool) -> Vec<ConfigError>
where
    T: serde::de::DeserializeOwned + config::Validate,
{
    config::parse_str::<T>(Path::new(file), yaml, redact)
        .err()
        .unwrap_or_default()
}

fn files() -> Vec<ConfigFile> {
    let json = |v: Result<Value, serde_json::Error>| v.expect("defaults serialise");
    vec![
        ConfigFile {
            name: config::BOT_FILE,
            defaults: json(serde_json::to_value(BotConfig::default())),
            maps: &["discord.channels"],
            parse: |y| errors_of::<BotConfig>(config::BOT_FILE, y, false),
        },
        ConfigFile {
            name: config::MODERATION_FILE,
            defaults: json(serde_json::to_value(ModerationConfig::default())),
            maps: &["ladders"],
            parse: |y| errors_of::<ModerationConfig>(config::MODERATION_FILE, y, false),
        },
        ConfigFile {
            name: config::LOYALTY_FILE,
            defaults: json(serde_json::to_value(LoyaltyConfig::default())),
            maps: &["events.custom"],
            parse: |y| errors_of::<LoyaltyConfig>(config::LOYALTY_FILE, y, false),
        },
        ConfigFile {
            name: config::HOTKEYS_FILE,
            defaults: json(serde_json::to_value(HotkeysConfig::default())),
            maps: &["keys"],
            parse: |y| errors_of::<HotkeysConfig>(config::HOTKEYS_FILE, y, false),
        },
        ConfigFile {
            name: config::SECRETS_FILE,
            defaults: json(serde_json::to_value(Secrets::default())),
            maps: &["discord.webhooks"],
            parse: |y| errors_of::<Secrets>(config::SECRETS_FILE, y, true),
        },
    ]
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Walks a serialised default into dotted keys; a map of user-chosen names becomes one
/// `<name>` key (with the fields of its first entry below it, when it has one).
fn walk(value: &Value, prefix: &str, maps: &[&str], keys: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) if maps.contains(&prefix) => {
            let named = join(prefix, NAME);
            match fields.values().next() {
                Some(first @ Value::Object(_)) => walk(first, &named, maps, keys),
                _ => {
                    keys.insert(named);
                }
            }
        }
        Value::Object(fields) if !fields.is_empty() => {
            for (k, v) in fields {
                walk(v, &join(prefix, k), maps, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

/// `a.b.c` as nested YAML with `leaf` as the value, names chosen for `<name>`.
fn nested_yaml(key: &str, leaf: &str) -> String {
    let mut yaml = String::new();
    let parts: Vec<&str> = key.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let part = if *part == NAME { "probe_name" } else { part };
        yaml.push_str(&"  ".repeat(depth));
        yaml.push_str(part);
        yaml.push(':');
        if depth + 1 == parts.len() {
            yaml.push(' ');
            yaml.push_str(leaf);
        }
        yaml.push('\n');
    }
    yaml
}

/// Whether the loader rejects `key` as unknown (any other complaint means it knows the key).
fn unknown(file: &ConfigFile, key: &str) -> bool {
    (file.parse)(&nested_yaml(key, "~"))
        .iter()
        .any(|e| e.to_string().contains("unknown key"))
}

/// Keys the serialised defaults leave out (an unset option): the loader's own list of
/// allowed keys in each section, read from the error for an unknown one.
fn allowed_in(file: &ConfigFile, section: &str) -> Vec<String> {
    let probe = join(section, "zz_not_a_key");
    (file.parse)(&nested_yaml(&probe, "1"))
        .iter()
        .filter_map(|e| {
            let text = e.to_string();
            let list = text.split("allowed keys: ").nth(1)?.to_owned();
            Some(
                list.split(", ")
                    .map(|k| join(section, k.trim()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Every key each file's loader accepts, file by file.
fn accepted_keys(file: &ConfigFile) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    walk(&file.defaults, "", file.maps, &mut keys);
    let mut sections: BTreeSet<String> = BTreeSet::from([String::new()]);
    for key in &keys {
        let mut parts: Vec<&str> = key.split('.').collect();
        while parts.pop().is_some() && !parts.is_empty() {
            let section = parts.join(".");
            if !file.maps.contains(&section.as_str()) {
                sections.insert(section);
            }
        }
    }
    for section in &sections {
        for key in allowed_in(file, section) {
            let is_section = keys.iter().any(|k| k.starts_with(&format!("{key}.")));
            if !is_section {
                keys.insert(key);
            }
        }
    }
    keys
}

/// The keys `docs/configuration.md` documents: first-column backticks of the rows of tables
/// headed `| Key |`, under a `## configs/<file>` heading.
fn documented_keys(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file: Option<String> = None;
    let mut in_table = false;
    for line in doc.lines() {
        let line = line.trim();
        if let Some(heading) = line.strip_prefix("## ") {
            file = heading
                .split('`')
                .nth(1)
                .and_then(|p| p.strip_prefix("configs/"))
                .map(str::to_owned);
            in_table = false;
        } else if line.starts_with("| Key |") {
            in_table = true;
        } else if !line.starts_with('|') {
            in_table = false;
        } else if in_table
            && let Some(f) = &file
            && let Some(key) = line.split('|').nth(1).and_then(|c| c.split('`').nth(1))
        {
            out.entry(f.clone()).or_default().insert(key.to_owned());
        }
    }
    out
}

#[test]
fn configuration_md_names_every_key_the_loader_accepts_and_no_other() {
    let doc = read("docs/configuration.md");
    let documented = documented_keys(&doc);
    let mut problems = Vec::new();
    for file in files() {
        let accepted = accepted_keys(&file);
        assert!(
            accepted.len() > 1,
            "found no keys for {} (the walk is broken)",
            file.name
        );
        let empty = BTreeSet::new();
        let doc_keys = documented.get(file.name).unwrap_or(&empty);
        for key in accepted.difference(doc_keys) {
            problems.push(format!(
                "configs/{f} accepts `{key}`, which docs/configuration.md does not document: add \
                 the row | `{key}` | <default> | <what it does> | to the table under \
                 ## `configs/{f}`",
                f = file.name
            ));
        }
        for key in doc_keys.difference(&accepted) {
            let why = if unknown(&file, key) {
                "the loader refuses it as an unknown key"
            } else {
                "it is a section or a map, not a key: document the keys inside it"
            };
            problems.push(format!(
                "docs/configuration.md documents `{key}` under ## `configs/{f}`, but {why}: \
                 remove the row or correct the key",
                f = file.name
            ));
        }
    }
    for name in documented.keys() {
        if !files().iter().any(|f| f.name == name) {
            problems.push(format!(
                "docs/configuration.md has a key table under ## `configs/{name}`, a file the \
                 bot does not read"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn a_key_the_loader_refuses_is_reported() {
    // The reverse check above must be able to fail: a typo is refused, a real key is not.
    let bot = &files()[0];
    assert!(unknown(bot, "chat.rate_limt"));
    assert!(!unknown(bot, "chat.rate_limit"));
    assert!(!unknown(&files()[1], "ladders.<name>.steps"));
    assert!(unknown(&files()[1], "ladders.<name>.stepz"));
    // Keys only the loader's allowed list knows (unset options) are found too.
    let secrets = &files()[4];
    assert!(accepted_keys(secrets).contains("client_secret"));
}

/// The endpoints `docs/console-api.md` lists: rows of tables headed `| Method |`, as
/// (method, path) with the Auth column.
fn documented_routes(doc: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut in_table = false;
    for line in doc.lines() {
        let line = line.trim();
        if line.starts_with("| Method |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let tick = |c: &str| c.split('`').nth(1).map(str::to_owned);
        if in_table
            && let (Some(method), Some(path)) = (
                cells.get(1).and_then(|c| tick(c)),
                cells.get(2).and_then(|c| tick(c)),
            )
        {
            let auth = cells.get(3).copied().unwrap_or("").to_owned();
            out.insert((method, path), auth);
        }
    }
    out
}

#[test]
fn console_api_md_lists_every_route_and_only_routes() {
    let documented = documented_routes(&read("docs/console-api.md"));
    let mut problems = Vec::new();
    let mut served = BTreeSet::new();
    for route in ROUTES {
        let key = (route.method.as_str().to_owned(), route.path.to_owned());
        let auth = match route.access {
            Access::Open => "none",
            Access::Token => "token",
        };
        match documented.get(&key) {
            None => problems.push(format!(
                "the console serves {} {}, which docs/console-api.md does not list: add the row \
                 | `{}` | `{}` | {auth} | {} | to its endpoint table",
                key.0, key.1, key.0, key.1, route.summary
            )),
            Some(doc_auth) if doc_auth != auth => problems.push(format!(
                "docs/console-api.md says {} {} needs `{doc_auth}`; the route table says `{auth}`",
                key.0, key.1
            )),
            Some(_) => {}
        }
        served.insert(key);
    }
    for (method, path) in documented.keys() {
        if !served.contains(&(method.clone(), path.clone())) {
            problems.push(format!(
                "docs/console-api.md lists {method} {path}, which the console does not serve \
                 (ROUTES in src/console/server.rs): remove the row or add the route"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[tokio::test]
async fn each_routes_access_is_what_the_console_enforces() {
    // The Auth column of console-api.md is checked against ROUTES above; here ROUTES' access
    // is checked against the server: a token route refuses a request without the token or a
    // session, an open one serves it.
    let backend = console_support::FakeBackend::new(true);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let listener = twitch_bot::console::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let console = twitch_bot::console::serve(listener, "t".into(), backend, shutdown.clone())
        .await
        .expect("serve");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let base = format!("http://{}", console.addr);
    for route in ROUTES {
        let path = route
            .path
            .replace("{login}", "alice")
            .replace("{stream}", "live");
        // Every request carries a fresh one-time login code and nothing else: only an open
        // route (the login link) may accept that.
        let login = console.login_url();
        let code = login.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let url = format!("{base}{path}?{code}");
        let resp = match route.method.as_str() {
            "GET" => http.get(&url),
            "PUT" => http.put(&url),
            "DELETE" => http.delete(&url),
            _ => http.post(&url),
        }
        .send()
        .await
        .expect("request");
        let refused = resp.status() == reqwest::StatusCode::UNAUTHORIZED;
        assert_eq!(
            refused,
            route.access == Access::Token,
            "{} {} answered {} to a login code without a token or session; ROUTES says {:?}",
            route.method.as_str(),
            route.path,
            resp.status(),
            route.access
        );
    }
    shutdown.cancel();
    console.stopped().await;
}

#[test]
fn version_names_the_version_and_the_commit() {
    let out = BotCommand::new().arg("--version").output();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = concat!("twitch-bot ", env!("CARGO_PKG_VERSION"));
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success() && repo().join(".git").exists())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match commit {
        Some(commit) => assert_eq!(printed, format!("{version} ({commit})")),
        None => assert_eq!(printed, version),
    }
}

/// The long flags `--help` lists under `Options:` (argh's own `--help` aside).
fn flags_in_help(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Options:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            l.split_whitespace()
                .map(|w| w.trim_end_matches(','))
                .find(|w| w.starts_with("--"))
        })
        .filter(|f| *f != "--help")
        .map(str::to_owned)
        .collect()
}

/// The long flags in the first column of the README's `| flag | effect |` table.
fn flags_in_readme(readme: &str) -> BTreeSet<String> {
    readme
        .lines()
        .skip_while(|l| !l.starts_with("| flag |"))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .flat_map(|code| code.split([',', ' ']))
        .filter(|w| w.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_flags_table_is_the_binarys_flags() {
    let out = BotCommand::new().arg("--help").output();
    let help = flags_in_help(&String::from_utf8_lossy(&out.stdout));
    let readme = flags_in_readme(&read("README.md"));
    assert!(help.len() > 10, "could not read the flags from --help");
    let missing: Vec<_> = help.difference(&readme).collect();
    let stale: Vec<_> = readme.difference(&help).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README.md's flags table: add rows for {missing:?} (see `twitch-bot --help`); remove \
         {stale:?}, which the binary does not accept"
    );
}
