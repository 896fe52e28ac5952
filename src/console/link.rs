//! `twitch-bot console-link`: asks the running bot, over loopback with the console token as
//! `Authorization: Bearer`, for a fresh one-time sign-in link.
//!
//! The token goes only into the request header; the answer holds a one-time code, never the
//! token.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;

/// Asks the bot using the configs in `config_dir` for a one-time sign-in link.
///
/// # Errors
/// The configs do not load, no console token is set, the bot does not answer, or it refuses;
/// each message says what to do.
pub async fn request_login_link(config_dir: &Path) -> Result<String, String> {
    let config = Config::load(config_dir).map_err(|e| e.to_string())?;
    let token = config.secrets.console_token.trim().to_owned();
    if token.is_empty() {
        return Err(format!(
            "no console token in {}: start the bot once (it generates one), then run this again",
            config_dir.join("secrets.yaml").display()
        ));
    }
    let console = &config.bot.console;
    let bind: SocketAddr = console.bind.parse().map_err(|_| {
        format!(
            "console.bind `{}` in configs/bot.yaml is not an address with a port",
            console.bind
        )
    })?;
    // The bot listens on every interface: ask it on loopback.
    let target = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bind.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bind.port())
        }
        _ => bind,
    };
    let mut client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    let url = match (&console.tls_cert, &console.public_name) {
        (Some(cert), name) => {
            // Trust only the console's own certificate, under the name it was made for.
            let path = config_dir.join(cert);
            let pem = std::fs::read(&path)
                .map_err(|e| format!("console.tls_cert: cannot read {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("console.tls_cert: {} is not PEM: {e}", path.display()))?;
            client = client.tls_certs_only(certs);
            match name {
                Some(name) => {
                    let host = name.rsplit_once(':').map_or(name.as_str(), |(h, _)| h);
                    client = client.resolve(host, target);
                    format!("https://{host}:{}/api/login-link", target.port())
                }
                None => format!("https://{target}/api/login-link"),
            }
        }
        (None, _) => format!("http://{target}/api/login-link"),
    };
    let client = client
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let resp = client
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| {
            format!(
                "the bot's console does not answer on {target} ({e}): is the bot running with \
                 the console on (no --noconsole), with these configs?"
            )
        })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let why = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no reason given");
        return Err(format!(
            "the console refused ({status}): {why}; if the bot was started with another \
             configs folder, pass the same --config"
        ));
    }
    body.get("url")
        .and_then(|u| u.as_str())
        .map(str::to_owned)
        .ok_or_else(|| "the console's answer holds no link".to_owned())
}
