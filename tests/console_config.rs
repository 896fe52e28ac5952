//! The console's keys as the loader checks them: a console other machines can reach is refused
//! unless allowed and served over HTTPS (TLS or a proxy), and a hand-written console token must
//! be long enough to resist guessing.

use std::path::Path;

use twitch_bot::config::Config;

fn load(bot_yaml: &str, secrets_yaml: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "bot.yaml", bot_yaml);
    write(dir.path(), "secrets.yaml", secrets_yaml);
    Config::load(dir.path()).map_err(|e| e.to_string())
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

#[test]
fn a_lan_bind_is_refused_without_allow_remote_and_https() {
    for bind in ["0.0.0.0:8081", "192.168.1.20:8081", "[::]:8081"] {
        let err = load(&format!("console:\n  bind: \"{bind}\"\n"), "").expect_err(bind);
        assert!(
            err.contains("console.bind") && err.contains("allow_remote"),
            "{bind}: {err}"
        );
        assert!(
            !err.contains("  "),
            "one sentence, no runs of spaces: {err}"
        );
    }
    let err = load("console:\n  bind: 0.0.0.0:8081\n  allow_remote: true\n", "")
        .expect_err("plain HTTP off loopback");
    assert!(
        err.contains("console.allow_remote")
            && err.contains("tls_cert")
            && err.contains("behind_proxy"),
        "{err}"
    );
    let err = load(
        "console:\n  bind: 0.0.0.0:8443\n  allow_remote: true\n  tls_cert: cert.pem\n",
        "",
    )
    .expect_err("a certificate without its key");
    assert!(err.contains("console.tls_key"), "{err}");
}

#[test]
fn a_lan_bind_is_accepted_behind_a_proxy_or_with_tls() {
    let config = load(
        "console:\n  bind: 0.0.0.0:8081\n  allow_remote: true\n  behind_proxy: true\n  public_name: bot.example.org\n",
        "",
    )
    .expect("behind a proxy");
    assert!(config.bot.console.behind_proxy);
    load(
        "console:\n  bind: 0.0.0.0:8443\n  allow_remote: true\n  tls_cert: c.pem\n  tls_key: k.pem\n",
        "",
    )
    .expect("with TLS");
    // Loopback needs nothing, as before.
    let config = load("console:\n  bind: 127.0.0.1:9000\n", "").expect("loopback");
    assert_eq!(config.bot.console.session_hours, 12);
    let err = load("console:\n  session_hours: 0\n", "").expect_err("no lifetime");
    assert!(err.contains("console.session_hours"), "{err}");
}

#[test]
fn a_short_hand_written_console_token_is_refused_at_load() {
    let err = load("", "console_token: hunter2\n").expect_err("short token");
    assert!(err.contains("console_token") && err.contains("32"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the secret is not repeated: {err}"
    );
    let long = "a-long-hand-written-console-token-0123456789";
    let config = load("", &format!("console_token: {long}\n")).expect("long token");
    assert_eq!(config.secrets.console_token, long);
    // An empty one is still fine: the bot generates one at start.
    load("", "console_token: \"\"\n").expect("empty token");
}
