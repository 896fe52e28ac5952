//! `twitch-bot auth`: signing both accounts in by device code or by the authorization-code
//! flow, and the note on what the Chat Bot badge needs.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::config::BotConfig;
use crate::config::secrets::{Grant, Secrets};
use crate::twitch::scopes;

/// `twitch-bot auth`: signs in the bot account, then the broadcaster account, and writes
/// `config_dir/secrets.yaml` (0600). `code_flow` uses the authorization-code flow with a one-shot
/// listener at `auth.redirect_uri` instead of device codes.
///
/// # Errors
/// A missing client id, refusals, expiry, network failures, write failures.
pub async fn run_auth(
    config_dir: &Path,
    bot: &BotConfig,
    secrets: &Secrets,
    code_flow: bool,
) -> anyhow::Result<()> {
    run_auth_with(config_dir, bot, &AuthConfig::default(), secrets, code_flow).await
}

/// [`run_auth`] with an explicit `auth:` section.
///
/// # Errors
/// As [`run_auth`].
pub async fn run_auth_with(
    config_dir: &Path,
    bot: &BotConfig,
    auth_config: &AuthConfig,
    secrets: &Secrets,
    code_flow: bool,
) -> anyhow::Result<()> {
    if secrets.client_id.is_empty() {
        anyhow::bail!(
            "secrets.yaml has no client_id: register an application at https://dev.twitch.tv/console/apps \
             (category Chat Bot, client type Public) and put its Client ID in {}",
            config_dir.join("secrets.yaml").display()
        );
    }
    let client = AuthClient::new(
        reqwest::Client::new(),
        &bot.twitch.auth_url,
        &secrets.client_id,
        secrets.client_secret.as_deref(),
    );
    println!("{}\n", chat_bot_badge_note(client.has_secret()));
    for (account, who) in [
        (Account::Bot, bot.username.as_str()),
        (Account::Broadcaster, bot.owner.as_str()),
    ] {
        // Exactly the union of the account's rows in the feature table.
        let scopes = &scopes::for_account(account);
        println!("Sign in as the {account} account ({who}).");
        let token = if code_flow {
            authorization_code_grant(&client, &auth_config.redirect_uri, scopes, &mut |url| {
                println!("  Open {url}");
            })
            .await?
        } else {
            let code = client.device_start(scopes).await?;
            println!(
                "  Open {} and enter the code {}  (valid {} minutes)",
                code.verification_uri,
                code.user_code,
                code.expires_in / 60
            );
            client.device_poll(&code).await?
        };
        let granted = token.into_grant(&Grant::default());
        if account == Account::Broadcaster {
            println!(
                "  (The broadcaster's grant includes `channel:bot`: it lets the bot wear the Chat \
                 Bot badge in this channel; and `{}`: the bot learns at once when it is made or \
                 unmade a moderator, and sends at the matching rate.)",
                scopes::MODERATION_READ
            );
        }
        // Twitch may grant less than was asked (an older application, a scope refused).
        if !granted.scopes.is_empty() {
            for line in scopes::missing_report(account, &granted.scopes) {
                println!("  Not granted, so off: {line}");
            }
        }
        let path = config_dir.join("secrets.yaml");
        let target = path.clone();
        // The grant belongs to the application it was made with: keep the two together.
        let (client_id, client_secret) = (secrets.client_id.clone(), secrets.client_secret.clone());
        tokio::task::spawn_blocking(move || {
            crate::config::secrets::update(&target, |s| {
                *grant_mut(s, account) = granted;
                s.client_id = client_id;
                if client_secret.is_some() {
                    s.client_secret = client_secret;
                }
            })
        })
        .await?
        .map_err(|errors| {
            anyhow::anyhow!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        println!("  {account} account signed in; saved to {}", path.display());
    }
    Ok(())
}

/// The paragraph `twitch-bot auth` starts with: how chat goes, and what the Chat Bot badge
/// needs. `has_secret`: a client secret is configured.
pub fn chat_bot_badge_note(has_secret: bool) -> String {
    let now = if has_secret {
        "secrets.yaml has a client secret, so the bot will send with an app token and show the \
         badge (sign in with `twitch-bot auth --code-flow` if device codes are refused)."
    } else {
        "secrets.yaml has no client secret, so the bot sends with its own token, without the badge."
    };
    format!(
        "Chat: the bot is asked for user:read:chat, user:write:chat and user:bot (chat over \
         EventSub and Helix) besides chat:read and chat:edit (IRC). The Chat Bot badge needs an \
         app access token, which needs a client secret: a Confidential application on \
         dev.twitch.tv. Device-code sign-in, the default here, uses a Public application, which \
         has no secret. {now}"
    )
}

/// The authorization-code flow: listens once on 127.0.0.1 at the redirect URI's port, hands the
/// URL to open to `show`, accepts one redirect, checks `state` and exchanges the code.
///
/// # Errors
/// Bind failures, a redirect without a code or with the wrong state, refusals.
pub async fn authorization_code_grant(
    client: &AuthClient,
    redirect_uri: &str,
    scopes: &[&str],
    show: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<TokenResponse> {
    let url = reqwest::Url::parse(redirect_uri)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let state = format!("{:016x}", rand::random::<u64>());
    show(&client.authorize_url(redirect_uri, scopes, &state));
    let (mut sock, _) = listener.accept().await?;
    let mut buf = vec![0u8; 8192];
    let n = sock.read(&mut buf).await?;
    let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let parsed = reqwest::Url::parse(&format!("http://localhost{target}"))?;
    let get = |k: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    let ok = get("state").as_deref() == Some(state.as_str()) && get("code").is_some();
    let body = if ok {
        "Signed in. You can close this tab."
    } else {
        "Sign-in failed. Run twitch-bot auth again."
    };
    let _ = sock
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    match (ok, get("code")) {
        (true, Some(code)) => Ok(client.exchange_code(&code, redirect_uri).await?),
        _ => anyhow::bail!(
            "the redirect did not carry a valid code ({})",
            get("error_description").unwrap_or_else(|| "state mismatch".into())
        ),
    }
}
