//! `configs/secrets.yaml`: the app's client id and secret, the OAuth grants and the console
//! token. Never logged: `Debug` says only which fields are set, and no error quotes a value.
//! On Unix a file that group or others may read or write is refused.
//!
//! Owns reading, checking and writing the file. Every writer (the running bot refreshing a
//! token, `twitch-bot auth`, the console token on first start) goes through [`update`]: an
//! exclusive lock across processes, a fresh read, a change to its own keys only, an atomic
//! replace and a synced folder, so no writer ever drops another's values. Getting tokens is the
//! auth flow's job.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Checker, ConfigError, Validate};

/// A user's OAuth grant.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    /// Sent with every request; expires after a few hours.
    pub access_token: String,
    /// Trades for a new access token; Twitch may rotate it on each refresh.
    pub refresh_token: String,
    /// The scopes Twitch says the grant holds, saved at sign-in and at every refresh, so
    /// `twitch-bot check --live` can report them even when the tokens expired meanwhile.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl Grant {
    /// Both tokens are present.
    pub fn is_complete(&self) -> bool {
        !self.access_token.is_empty() && !self.refresh_token.is_empty()
    }
}

/// Says whether a secret is there without showing it.
fn shown(s: &str) -> &'static str {
    if s.is_empty() { "<empty>" } else { "<set>" }
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("access_token", &shown(&self.access_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The whole of `configs/secrets.yaml`.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// The Twitch application's client id (public, but kept with its secret).
    pub client_id: String,
    /// Only needed for app tokens (the "Chat Bot" badge path); the Device Code Grant needs none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The bot account's grant (`chat:read chat:edit` and the moderation scopes).
    pub bot: Grant,
    /// The broadcaster's grant (EventSub subscriptions on the channel).
    pub broadcaster: Grant,
    /// The web console's access token; generated on first start when empty.
    pub console_token: String,
    /// obs-websocket's server password (empty: authentication off in OBS).
    pub obs_password: String,
    /// Discord's bot token and webhook URLs.
    pub discord: DiscordSecrets,
}

/// Discord credentials: named webhook URLs (the default) or a bot token.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordSecrets {
    /// Name → webhook URL (Server Settings → Integrations → Webhooks → Copy Webhook URL).
    pub webhooks: std::collections::BTreeMap<String, String>,
    /// A bot token, for posting to channel ids from `discord.channels` in bot.yaml.
    pub bot_token: String,
}

impl DiscordSecrets {
    /// Whether anything is configured: Discord stays off until it is.
    pub fn configured(&self) -> bool {
        !self.webhooks.is_empty() || !self.bot_token.is_empty()
    }
}

impl std::fmt::Debug for DiscordSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordSecrets")
            .field("webhooks", &self.webhooks.keys().collect::<Vec<_>>())
            .field("bot_token", &shown(&self.bot_token))
            .finish()
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("client_id", &shown(&self.client_id))
            .field(
                "client_secret",
                &self.client_secret.as_deref().map(shown).unwrap_or("<none>"),
            )
            .field("bot", &self.bot)
            .field("broadcaster", &self.broadcaster)
            .field("console_token", &shown(&self.console_token))
            .field("obs_password", &shown(&self.obs_password))
            .field("discord", &self.discord)
            .finish()
    }
}

impl Validate for Secrets {
    fn validate(&mut self, check: &mut Checker<'_>) {
        // Every field may be empty: offline mode needs none. Live mode asks `require_live`.
        // A console token written by hand must be as hard to guess as a generated one.
        let token = self.console_token.trim();
        if !token.is_empty() && token.chars().count() < 32 {
            check.error(
                "console_token",
                "is shorter than 32 characters, too easy to guess: use a long random value, or \
                 leave it empty and the bot generates one at start",
            );
        }
        // A webhook URL that is set must be one (the message leaves the secret out).
        for (name, url) in &self.discord.webhooks {
            if let Err(e) = parse_webhook_url(url) {
                check.error(&format!("discord.webhooks.{name}"), e);
            }
        }
    }
}

/// Reads the id and token out of a webhook URL
/// (`https://discord.com/api/webhooks/<id>/<token>`, as Discord's "Copy Webhook URL" gives it).
///
/// # Errors
/// What is wrong, without repeating the URL (it holds a secret).
pub fn parse_webhook_url(url: &str) -> Result<(std::num::NonZeroU64, String), String> {
    const EXPECTED: &str = "expected https://discord.com/api/webhooks/<id>/<token> \
                            (Server Settings → Integrations → Webhooks → Copy Webhook URL)";
    let url = url.trim();
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(format!("is not a URL; {EXPECTED}"));
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let Some((_, rest)) = path.split_once("/webhooks/") else {
        return Err(format!("is not a webhook URL; {EXPECTED}"));
    };
    let mut parts = rest.trim_end_matches('/').split('/');
    let id = parts
        .next()
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| format!("has no webhook id (a number) after /webhooks/; {EXPECTED}"))?;
    let token = parts.next().unwrap_or_default();
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(format!("has no webhook token after the id; {EXPECTED}"));
    }
    if parts.next().is_some() {
        return Err(format!("has more after the token; {EXPECTED}"));
    }
    Ok((id, token.to_string()))
}

/// Keys a live run needs but secrets.yaml lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "secrets.yaml lacks {}: run `twitch-bot auth` to sign in and fill them in (or use --offline)",
    missing.join(", ")
)]
pub struct MissingSecrets {
    /// Dotted keys, such as `bot.access_token`.
    pub missing: Vec<&'static str>,
}

impl Secrets {
    /// Checks the keys a live chat connection needs: `client_id` and the bot's grant.
    ///
    /// # Errors
    /// Names every missing key.
    pub fn require_live(&self) -> Result<(), MissingSecrets> {
        let mut missing = Vec::new();
        if self.client_id.is_empty() {
            missing.push("client_id");
        }
        if self.bot.access_token.is_empty() {
            missing.push("bot.access_token");
        }
        if self.bot.refresh_token.is_empty() {
            missing.push("bot.refresh_token");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(MissingSecrets { missing })
        }
    }

    /// Checks the broadcaster's grant, which EventSub subscriptions on the channel need.
    ///
    /// # Errors
    /// Names every missing key.
    pub fn require_broadcaster(&self) -> Result<(), MissingSecrets> {
        let mut missing = Vec::new();
        if self.client_id.is_empty() {
            missing.push("client_id");
        }
        if self.broadcaster.access_token.is_empty() {
            missing.push("broadcaster.access_token");
        }
        if self.broadcaster.refresh_token.is_empty() {
            missing.push("broadcaster.refresh_token");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(MissingSecrets { missing })
        }
    }
}

/// Refuses a secrets file that group or others may read or write: tokens there act as the
/// streamer's account.
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::File {
            file: path.into(),
            message: format!(
                "group or others can access it (mode {mode:04o}); run `chmod 600 {}` so only \
                 you can",
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), ConfigError> {
    Ok(())
}

/// Reads secrets.yaml; a missing file gives empty secrets (offline mode needs none).
///
/// # Errors
/// The file is too widely readable (Unix), unreadable, or not valid; no error quotes a value.
pub fn load(path: &Path) -> Result<Secrets, Vec<ConfigError>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Secrets::default()),
        Err(e) => {
            return Err(vec![ConfigError::File {
                file: path.into(),
                message: format!("cannot read it: {e}"),
            }]);
        }
    };
    check_private(path, &meta).map_err(|e| vec![e])?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::File {
            file: path.into(),
            message: format!("cannot read it: {e}"),
        }]
    })?;
    super::parse_str(path, &text, true)
}

/// Writes `secrets` to `path` atomically: a temporary file in the same folder, private before
/// any byte is written, flushed to disk, then renamed over the old file, so a crash leaves
/// either the old file or the new one and never a token in a readable file.
///
/// # Errors
/// Any I/O failure; the old file is then untouched.
pub fn save(path: &Path, secrets: &Secrets) -> Result<(), ConfigError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| ConfigError::File {
        file: path.into(),
        message: format!("cannot {what}: {e}"),
    };
    let body = serde_saphyr::to_string(secrets).map_err(|e| fail("serialise secrets", &e))?;
    let dir = folder_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secrets.yaml".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = write_private(&tmp, body.as_bytes())
        .map_err(|e| fail("write the temporary file", &e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| fail("replace the file", &e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // The rename is durable only once the folder entry is on disk.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Changes secrets.yaml under an exclusive lock shared with every other writer, in this process
/// or another (`twitch-bot auth` while the bot runs): re-reads the file, lets `change` set its
/// own keys, and writes the result back atomically ([`save`]). Every key `change` leaves alone
/// keeps the value on disk, whatever this process read at start. A missing file starts empty.
/// Blocks while another writer holds the lock: call it off the async runtime.
///
/// Returns the secrets as written.
///
/// # Errors
/// The lock cannot be taken, the file on disk is unreadable or invalid (it is then left as it
/// is: fix it and the next write succeeds), or the write fails.
pub fn update(path: &Path, change: impl FnOnce(&mut Secrets)) -> Result<Secrets, Vec<ConfigError>> {
    let dir = folder_of(path);
    std::fs::create_dir_all(&dir).map_err(|e| {
        vec![ConfigError::File {
            file: path.into(),
            message: format!("cannot create its folder: {e}"),
        }]
    })?;
    let _lock = lock(path).map_err(|e| vec![e])?;
    let mut secrets = load(path)?;
    change(&mut secrets);
    save(path, &secrets).map_err(|e| vec![e])?;
    Ok(secrets)
}

/// The folder a file lives in (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Takes the exclusive lock on `.<name>.lock` beside the file; released when the handle drops
/// (also when the process dies, so a crash never leaves it held). The file itself cannot carry
/// the lock: [`save`] replaces it by rename, and a lock on the old inode guards nothing.
fn lock(path: &Path) -> Result<std::fs::File, ConfigError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secrets.yaml".into());
    let lock_path = folder_of(path).join(format!(".{name}.lock"));
    let fail = |e: std::io::Error| ConfigError::File {
        file: lock_path.clone(),
        message: format!("cannot lock it before writing {name}: {e}"),
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&lock_path).map_err(fail)?;
    file.lock().map_err(fail)?;
    Ok(file)
}

const HEADER: &str = "# Written by twitch-bot. Private: keep it mode 600 and out of git.\n";

fn write_private(tmp: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    // The umask can only remove bits from 0600, but set it outright before writing anyway.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(HEADER.as_bytes())?;
    file.write_all(body)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Secrets {
        Secrets {
            client_id: "cid-value".into(),
            client_secret: Some("csecret-value".into()),
            bot: Grant {
                access_token: "bot-access-value".into(),
                refresh_token: "bot-refresh-value".into(),
                scopes: vec!["chat:read".into()],
            },
            broadcaster: Grant::default(),
            console_token: "console-value-long-enough-0123456789abcdef".into(),
            obs_password: "obs-value".into(),
            discord: DiscordSecrets {
                webhooks: [(
                    "alerts".to_string(),
                    "https://discord.com/api/webhooks/1/hook-value".to_string(),
                )]
                .into(),
                bot_token: "discord-value".into(),
            },
        }
    }

    #[test]
    fn debug_shows_which_fields_are_set_but_no_value() {
        let text = format!("{:?}", full());
        assert!(!text.contains("value"), "{text}");
        assert!(text.contains("client_id: \"<set>\""), "{text}");
        assert!(text.contains("refresh_token: \"<empty>\""), "{text}");
    }

    #[test]
    fn require_live_names_each_missing_key_and_the_fix() {
        assert_eq!(full().require_live(), Ok(()));
        let err = Secrets::default().require_live().unwrap_err();
        assert_eq!(
            err.to_string(),
            "secrets.yaml lacks client_id, bot.access_token, bot.refresh_token: run \
             `twitch-bot auth` to sign in and fill them in (or use --offline)"
        );
        let err = full().require_broadcaster().unwrap_err();
        assert_eq!(
            err.missing,
            vec!["broadcaster.access_token", "broadcaster.refresh_token"]
        );
    }

    #[test]
    fn a_wrong_type_in_secrets_does_not_quote_the_value() {
        let text = "client_id: abc\nbot: { access_token: [tok-secret-1], refresh_token: x }\n";
        let err = super::super::parse_str::<Secrets>(Path::new("s.yaml"), text, true).unwrap_err();
        let shown = err[0].to_string();
        assert!(!shown.contains("tok-secret-1"), "{shown}");
        assert!(
            shown.starts_with("s.yaml:2:22: bot.access_token: "),
            "{shown}"
        );
    }

    #[test]
    fn an_update_changes_only_its_own_keys_and_keeps_what_others_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.yaml");
        save(&path, &full()).expect("saved");
        // What this process read at start is stale: the streamer edits the file afterwards.
        let stale = full();
        let mut edited = full();
        edited.obs_password = "changed-by-hand".into();
        save(&path, &edited).expect("edited");
        let written = update(&path, |s| s.bot.access_token = "rotated".into()).expect("updated");
        assert_eq!(written.obs_password, "changed-by-hand");
        let mut expected = edited.clone();
        expected.bot.access_token = "rotated".into();
        assert_eq!(load(&path).expect("loads"), expected);
        assert_ne!(load(&path).expect("loads").obs_password, stale.obs_password);
    }

    #[test]
    fn concurrent_writers_never_lose_each_others_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.yaml");
        save(&path, &full()).expect("saved");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        update(&path, |s| {
                            s.discord
                                .webhooks
                                .insert(format!("w{w}-{i}"), "https://x/api/webhooks/1/t".into());
                        })
                        .expect("updated");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let on_disk = load(&path).expect("loads");
        assert_eq!(on_disk.discord.webhooks.len(), 1 + 4 * 25);
        assert_eq!(on_disk.obs_password, "obs-value");
    }

    #[test]
    fn an_invalid_file_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.yaml");
        save(&path, &full()).expect("saved");
        let broken = "client_id: [unclosed\n";
        std::fs::write(&path, broken).expect("broken by hand");
        let err = update(&path, |s| s.console_token = "new".into()).unwrap_err();
        assert!(err[0].to_string().contains("secrets.yaml"), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);
    }
}
