//! The config files as a user meets them: the committed files, typos, wrong types, bad values,
//! secrets permissions and the atomic secrets writer.

use std::fs;
use std::path::{Path, PathBuf};

use twitch_bot::config::{
    self, BotConfig, Config, ConfigError, HotkeysConfig, LoyaltyConfig, ModerationConfig, Secrets,
    load_file, secrets,
};

fn committed() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("configs")
}

/// A temp configs folder holding the given files.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The one error loading `dir` gives, as the user reads it, with the folder part removed.
fn load_error(dir: &Path) -> String {
    let err = Config::load(dir).unwrap_err();
    strip(dir, &err)
}

fn strip(dir: &Path, err: &ConfigError) -> String {
    err.to_string().replace(&format!("{}/", dir.display()), "")
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn committed_configs_load_and_equal_the_defaults() {
    let dir = committed();
    assert_eq!(
        load_file::<BotConfig>(&dir.join("bot.yaml")).unwrap(),
        BotConfig::default()
    );
    assert_eq!(
        load_file::<ModerationConfig>(&dir.join("moderation.yaml")).unwrap(),
        ModerationConfig::default()
    );
    assert_eq!(
        load_file::<LoyaltyConfig>(&dir.join("loyalty.yaml")).unwrap(),
        LoyaltyConfig::default()
    );
    assert_eq!(
        load_file::<HotkeysConfig>(&dir.join("hotkeys.yaml")).unwrap(),
        HotkeysConfig::default()
    );
}

#[test]
fn the_secrets_example_loads_as_empty_secrets_once_private() {
    let text = fs::read_to_string(committed().join("secrets.example.yaml")).unwrap();
    let dir = folder(&[("secrets.yaml", &text)]);
    #[cfg(unix)]
    chmod(&dir.path().join("secrets.yaml"), 0o600);
    let loaded = secrets::load(&dir.path().join("secrets.yaml")).unwrap();
    assert_eq!(loaded, Secrets::default());
}

#[test]
fn the_committed_folder_passes_check_when_copied() {
    let src = committed();
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "bot.yaml",
        "moderation.yaml",
        "loyalty.yaml",
        "hotkeys.yaml",
    ] {
        fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    assert_eq!(config::check(dir.path()), Vec::new());
}

#[test]
fn missing_and_empty_files_mean_defaults() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(Config::load(empty.path()).unwrap(), Config::default());
    let blank = folder(&[
        ("bot.yaml", ""),
        ("moderation.yaml", "# nothing yet\n"),
        ("loyalty.yaml", "\n\n"),
        ("hotkeys.yaml", ""),
    ]);
    assert_eq!(Config::load(blank.path()).unwrap(), Config::default());
}

#[test]
fn an_unknown_key_names_file_line_column_key_and_the_allowed_keys() {
    let dir = folder(&[("bot.yaml", "username: mybot\nchat:\n  rate_limt: normal\n")]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:3:3: chat.rate_limt: unknown key `rate_limt` (did you mean `rate_limit`?); \
         allowed keys: rate_limit, command_prefix, reply_on_cooldown, ping_interval_secs, \
         ping_timeout_secs, outgoing_queue, max_backoff_secs, transport"
    );
}

#[test]
fn a_wrong_type_names_file_line_column_and_key() {
    let dir = folder(&[("bot.yaml", "chat:\n  ping_interval_secs: abc\n")]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:2:23: chat.ping_interval_secs: `abc` is not a whole number of 0 or more"
    );
    let dir = folder(&[("bot.yaml", "chat:\n  rate_limit: fast\n")]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:2:15: chat.rate_limit: `fast` is not one of: normal, moderator, verified, \
         unlimited"
    );
    let dir = folder(&[("bot.yaml", "console: 8081\n")]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:1:10: console: expected a section of `key: value` lines indented below it"
    );
}

#[test]
fn nested_unknown_keys_give_the_dotted_path() {
    let dir = folder(&[(
        "moderation.yaml",
        "ladders:\n  default:\n    decay_hours: 1\n    stepz: [ban]\n",
    )]);
    assert_eq!(
        load_error(dir.path()),
        "moderation.yaml:4:5: ladders.default.stepz: unknown key `stepz` (did you mean \
         `steps`?); allowed keys: decay_hours, steps"
    );
    // Inside a flow mapping on one line.
    let dir = folder(&[(
        "loyalty.yaml",
        "events:\n  subscribe: { tier1: 5, tier4: 9 }\n",
    )]);
    assert_eq!(
        load_error(dir.path()),
        "loyalty.yaml:2:26: events.subscribe.tier4: unknown key `tier4` (did you mean \
         `tier1`?); allowed keys: prime, tier1, tier2, tier3"
    );
}

#[test]
fn a_bad_chat_url_is_refused_with_its_key_and_the_allowed_forms() {
    let dir = folder(&[("bot.yaml", "twitch:\n  chat_url: http://example.com:80\n")]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:2:13: twitch.chat_url: scheme `http` is not one of wss, ws, ircs, irc; use \
         wss://host:port, ws://host:port, ircs://host:port or irc://host:port (Twitch: \
         wss://irc-ws.chat.twitch.tv:443)"
    );
    let dir = folder(&[("bot.yaml", "twitch:\n  chat_url: irc://127.0.0.1\n")]);
    assert!(load_error(dir.path()).starts_with(
        "bot.yaml:2:13: twitch.chat_url: `irc://127.0.0.1` has no port; use wss://host:port"
    ));
    // Every allowed scheme with host and port is accepted.
    for url in [
        "wss://irc-ws.chat.twitch.tv:443",
        "ws://127.0.0.1:6680",
        "ircs://irc.chat.twitch.tv:6697",
        "irc://[::1]:6667",
    ] {
        let dir = folder(&[("bot.yaml", &format!("twitch:\n  chat_url: {url}\n"))]);
        let cfg = Config::load(dir.path()).unwrap();
        assert_eq!(cfg.bot.twitch.chat_url, url);
    }
}

#[test]
fn values_are_checked_beyond_their_type() {
    let dir = folder(&[(
        "bot.yaml",
        "username: My Bot\nconsole:\n  bind: localhost\nqueue: {capacity: 0}\n",
    )]);
    let errors: Vec<String> = config::check(dir.path())
        .iter()
        .map(|e| strip(dir.path(), e))
        .collect();
    assert_eq!(
        errors,
        vec![
            "bot.yaml:1:11: username: `My Bot` is not a Twitch login: use up to 25 letters, \
             digits or underscores",
            "bot.yaml:4:19: queue.capacity: 0 is out of range: use 1 to 1000000 events",
            "bot.yaml:3:9: console.bind: `localhost` is not an address with a port; use ip:port \
             such as 127.0.0.1:8081",
        ]
    );
}

#[test]
fn logins_are_lower_cased() {
    let dir = folder(&[("bot.yaml", "username: MyBot\nowner: SomeStreamer\n")]);
    let cfg = Config::load(dir.path()).unwrap();
    assert_eq!(cfg.bot.username, "mybot");
    assert_eq!(cfg.bot.owner, "somestreamer");
}

#[test]
fn a_bad_regex_is_refused_with_its_location_and_key() {
    let dir = folder(&[(
        "moderation.yaml",
        "banned:\n  regexes:\n    - 'fr[e3]+'\n    - '(unclosed'\n",
    )]);
    assert_eq!(
        load_error(dir.path()),
        "moderation.yaml:4:7: banned.regexes[1]: invalid regex `(unclosed`: unclosed group"
    );
}

#[test]
fn moderation_values_parse_into_usable_shapes() {
    use config::moderation::{Exempt, Step};
    let dir = folder(&[(
        "moderation.yaml",
        "dry_run: true\nbanned:\n  terms: [badword]\n  regexes: ['b[a4]d']\n  ladder: strict\n\
         links:\n  allow: [Example.COM]\nladders:\n  strict:\n    decay_hours: 0\n    steps: \
         [timeout 10m, ban]\n  default:\n    steps: [delete]\n",
    )]);
    let m = Config::load(dir.path()).unwrap().moderation;
    assert!(m.dry_run);
    assert_eq!(m.banned.terms, vec!["badword"]);
    assert!(m.banned.regexes[0].regex().is_match("b4d"));
    assert_eq!(
        m.ladders["strict"].steps,
        vec![Step::Timeout(600), Step::Ban]
    );
    assert_eq!(m.links.allow, vec!["example.com"]);
    assert_eq!(m.links.exempt, vec![Exempt::Vip, Exempt::Regular]);
}

#[test]
fn a_filter_naming_a_missing_ladder_is_refused() {
    let dir = folder(&[("moderation.yaml", "caps:\n  ladder: harsh\n")]);
    assert_eq!(
        load_error(dir.path()),
        "moderation.yaml:2:11: caps.ladder: no ladder named `harsh`; define it under `ladders` \
         or use one of: default"
    );
}

#[test]
fn hotkeys_are_parsed_and_bad_combinations_located() {
    let dir = folder(&[(
        "hotkeys.yaml",
        "keys:\n  brb: ctrl+shift+F1\n  mute: alt+m\n",
    )]);
    let h = Config::load(dir.path()).unwrap().hotkeys;
    assert_eq!(h.keys["brb"].to_string(), "ctrl+shift+F1");
    assert_eq!(h.keys["mute"].to_string(), "alt+m");

    let dir = folder(&[("hotkeys.yaml", "keys:\n  brb: ctrl+hyper+F1\n")]);
    let err = load_error(dir.path());
    assert!(
        err.starts_with(
            "hotkeys.yaml:2:8: keys.brb: `hyper` in `ctrl+hyper+F1` is not a modifier; write \
             modifiers (ctrl, shift, alt, meta)"
        ),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn secrets_readable_by_others_are_refused_with_the_chmod_fix() {
    let dir = folder(&[(
        "secrets.yaml",
        "client_id: abc\nbot: { access_token: tok-a, refresh_token: tok-r }\n",
    )]);
    let path = dir.path().join("secrets.yaml");
    chmod(&path, 0o644);
    let err = Config::load(dir.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{p}: group or others can access it (mode 0644); run `chmod 600 {p}` so only you can",
            p = path.display()
        )
    );
    assert!(!err.contains("tok-"));

    chmod(&path, 0o600);
    let cfg = Config::load(dir.path()).unwrap();
    assert_eq!(cfg.secrets.client_id, "abc");
    assert_eq!(cfg.secrets.bot.access_token, "tok-a");
    assert_eq!(cfg.secrets.require_live(), Ok(()));
    assert!(cfg.secrets.require_broadcaster().is_err());
    assert!(!format!("{cfg:?}").contains("tok-"));
}

#[test]
fn a_missing_secrets_file_is_fine_until_live_mode_asks() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load(dir.path()).unwrap();
    let err = cfg.secrets.require_live().unwrap_err();
    assert_eq!(
        err.missing,
        vec!["client_id", "bot.access_token", "bot.refresh_token"]
    );
    assert!(err.to_string().contains("run `twitch-bot auth`"));
}

#[test]
fn save_writes_a_private_file_atomically_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.yaml");
    // An old, too-open file is replaced, not rewritten in place.
    fs::write(&path, "client_id: old\n").unwrap();
    #[cfg(unix)]
    chmod(&path, 0o644);

    let mut s = Secrets {
        client_id: "cid".into(),
        client_secret: None,
        console_token: "console: with 'quotes' and # hash".into(),
        ..Secrets::default()
    };
    s.bot.access_token = "a1".into();
    s.bot.refresh_token = "r1".into();
    s.broadcaster.access_token = "a2".into();
    s.broadcaster.refresh_token = "r2".into();
    secrets::save(&path, &s).unwrap();

    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(secrets::load(&path).unwrap(), s);
    // Nothing but the file itself is left in the folder.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secrets.yaml")]);

    s.client_secret = Some("shh".into());
    s.bot.access_token = "a3".into();
    secrets::save(&path, &s).unwrap();
    assert_eq!(secrets::load(&path).unwrap(), s);
}

#[test]
fn check_reports_every_error_from_several_broken_files() {
    let dir = folder(&[
        (
            "bot.yaml",
            "twitch:\n  chat_url: ftp://x:1\nchat:\n  bogus: 1\n",
        ),
        (
            "moderation.yaml",
            "caps:\n  max_percent: 150\nflood:\n  per_secs: 0\n",
        ),
        ("loyalty.yaml", "interval_minutes: ten\n"),
        ("hotkeys.yaml", "keys:\n  brb: ctrl+\n"),
        ("secrets.yaml", "client_id: x\n"),
    ]);
    #[cfg(unix)]
    chmod(&dir.path().join("secrets.yaml"), 0o640);
    let errors: Vec<String> = config::check(dir.path())
        .iter()
        .map(|e| strip(dir.path(), e))
        .collect();
    let mut expected = vec![
        // A parse error stops bot.yaml's parse, so the bad chat_url waits for the next run.
        "bot.yaml:4:3: chat.bogus: unknown key `bogus`; allowed keys: rate_limit, \
         command_prefix, reply_on_cooldown, ping_interval_secs, ping_timeout_secs, \
         outgoing_queue, max_backoff_secs, transport"
            .to_owned(),
        "moderation.yaml:2:16: caps.max_percent: 150 is over 100 percent".to_owned(),
        "moderation.yaml:4:13: flood.per_secs: must be at least 1; to turn the filter off set \
         its `enabled: false`"
            .to_owned(),
        "loyalty.yaml:1:19: interval_minutes: `ten` is not a whole number from 0 to 4294967295"
            .to_owned(),
        "hotkeys.yaml:2:8: keys.brb: `ctrl+` has no key after its modifiers; write modifiers \
         (ctrl, shift, alt, meta) and one key joined by `+`, like ctrl+shift+F1; keys are a-z, \
         0-9, F1-F24, space, enter, tab, escape, backspace, delete, insert, home, end, pageup, \
         pagedown, up, down, left, right or one of - = [ ] ; ' , . / \\ `"
            .to_owned(),
    ];
    #[cfg(unix)]
    expected.push(
        "secrets.yaml: group or others can access it (mode 0640); run `chmod 600 secrets.yaml` \
         so only you can"
            .to_owned(),
    );
    assert_eq!(errors, expected);
}

#[test]
fn duplicate_keys_tabs_and_syntax_errors_are_located() {
    let cases = [
        (
            "username: a\nusername: b\n",
            "bot.yaml:2:1: username: `username` appears twice; keep one",
        ),
        (
            "chat:\n  reply_on_cooldown: 1\n",
            "bot.yaml:2:22: chat.reply_on_cooldown: `1` is not true or false",
        ),
        (
            "chat:\n  command_prefix:\n",
            "bot.yaml:2:17: chat.command_prefix: has no value; give it one, or delete the line \
             to use the default",
        ),
        ("owner: 'abc\n", "bot.yaml:1:8: owner: unclosed quote"),
        (
            "chat:\n\trate_limit: normal\n",
            "bot.yaml:2:2: chat.rate_limit: tabs disallowed within this context (block \
             indentation); indent with spaces, not tabs",
        ),
    ];
    for (text, want) in cases {
        let dir = folder(&[("bot.yaml", text)]);
        assert_eq!(load_error(dir.path()), want, "for {text:?}");
    }
}

#[cfg(unix)]
#[test]
fn discord_settings_are_checked_without_showing_the_webhook_secret() {
    let dir = folder(&[(
        "secrets.yaml",
        "discord:\n  webhooks:\n    alerts: https://discord.com/api/webhooks/123/s3cr3t\n    \
         clips: https://discord.com/channels/123/s3cr3t\n",
    )]);
    chmod(&dir.path().join("secrets.yaml"), 0o600);
    let err = load_error(dir.path());
    assert!(
        err.starts_with("secrets.yaml:4:12: discord.webhooks.clips: is not a webhook URL; expected https://discord.com/api/webhooks/<id>/<token>"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");

    let dir = folder(&[(
        "bot.yaml",
        "discord:\n  channels:\n    general: not-an-id\n",
    )]);
    assert_eq!(
        load_error(dir.path()),
        "bot.yaml:3:14: discord.channels.general: `not-an-id` is not a channel id; turn on \
         Developer Mode in Discord, right-click the channel and Copy Channel ID"
    );
    let dir = folder(&[(
        "bot.yaml",
        "discord:\n  go_live:\n    mention: [everyone, moderators]\n",
    )]);
    let err = load_error(dir.path());
    assert!(
        err.contains("discord.go_live.mention: `moderators` is not `none`, `everyone`"),
        "{err}"
    );
}

#[test]
fn a_number_too_large_to_be_a_duration_is_refused_where_it_is_written() {
    let dir = folder(&[(
        "bot.yaml",
        "emotes:\n  refresh_minutes: 18446744073709551615\nchat:\n  ping_interval_secs: 0\n",
    )]);
    let errors = config::check(dir.path());
    let shown: Vec<String> = errors.iter().map(|e| strip(dir.path(), e)).collect();
    assert!(
        shown.iter().any(|e| e.starts_with("bot.yaml:2:")
            && e.contains("emotes.refresh_minutes")
            && e.contains("use 1 to 10080 minutes")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("bot.yaml:4:") && e.contains("chat.ping_interval_secs")),
        "{shown:?}"
    );
    let dir = folder(&[
        ("moderation.yaml", "links:\n  permit_secs: 4294967295\n"),
        ("loyalty.yaml", "events:\n  follow: 18446744073709551615\n"),
    ]);
    let shown: Vec<String> = config::check(dir.path())
        .iter()
        .map(|e| strip(dir.path(), e))
        .collect();
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("moderation.yaml:2:") && e.contains("links.permit_secs")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|e| e.starts_with("loyalty.yaml:2:") && e.contains("events.follow")),
        "{shown:?}"
    );
}
