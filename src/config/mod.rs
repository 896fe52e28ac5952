//! Configuration: the YAML files in `configs/`, read into typed structs with errors that name
//! file, line, column and key.
//!
//! Owns parsing and validation only; who reloads configs and when is the app's business.
//! Every file is optional (a missing or empty file means the defaults) and every error a user
//! sees reads `file:line:col: key: what is wrong`, with a hint where one helps.

pub mod api;
pub mod bot;
pub mod hotkeys;
pub mod http_allow;
pub mod integrations;
pub mod loyalty;
pub mod moderation;
mod outline;
pub mod scripts;
pub mod secrets;

use std::path::{Path, PathBuf};

pub use bot::BotConfig;
pub use hotkeys::HotkeysConfig;
pub use loyalty::LoyaltyConfig;
pub use moderation::ModerationConfig;
pub use secrets::Secrets;

use outline::Outline;

/// The file names inside the configs folder.
///
/// The bot account, channel, connections and integrations.
pub const BOT_FILE: &str = "bot.yaml";
/// Chat moderation: filters, ladder, regulars.
pub const MODERATION_FILE: &str = "moderation.yaml";
/// Loyalty points: payouts, multipliers, event points, backups.
pub const LOYALTY_FILE: &str = "loyalty.yaml";
/// Global hotkeys and what each one does.
pub const HOTKEYS_FILE: &str = "hotkeys.yaml";
/// Tokens, passwords and webhook URLs (kept owner-readable only).
pub const SECRETS_FILE: &str = "secrets.yaml";

/// A config error a user can act on: `file:line:col: key: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Something at a place in the file: a syntax error, an unknown key, a wrong type or a value
    /// that fails validation. `key` is the dotted path (`chat.rate_limit`), empty when the
    /// position is not under any key.
    #[error("{}:{line}:{col}: {}{message}", file.display(), key_prefix(key))]
    Invalid {
        /// The config file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        col: u64,
        /// The dotted key path, empty when the place is under no key.
        key: String,
        /// What is wrong and, where it helps, what to write instead.
        message: String,
    },
    /// Something about the file as a whole: unreadable, or (secrets) too widely readable.
    #[error("{}: {message}", file.display())]
    File {
        /// The config file.
        file: PathBuf,
        /// What is wrong with it and what to do.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

impl ConfigError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Invalid { file, .. } | ConfigError::File { file, .. } => file,
        }
    }
}

/// Every config file, loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `bot.yaml`: the bot account, channel, connections and integrations.
    pub bot: BotConfig,
    /// `moderation.yaml`.
    pub moderation: ModerationConfig,
    /// `loyalty.yaml`.
    pub loyalty: LoyaltyConfig,
    /// `hotkeys.yaml`.
    pub hotkeys: HotkeysConfig,
    /// `secrets.yaml`, with environment overrides applied.
    pub secrets: Secrets,
}

impl Config {
    /// Loads every config file from `dir`.
    ///
    /// # Errors
    /// The first error found; [`check`] lists all of them.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = |name: &str| dir.join(name);
        Ok(Config {
            bot: load_file(&path(BOT_FILE)).map_err(first(&path(BOT_FILE)))?,
            moderation: load_file(&path(MODERATION_FILE)).map_err(first(&path(MODERATION_FILE)))?,
            loyalty: load_file(&path(LOYALTY_FILE)).map_err(first(&path(LOYALTY_FILE)))?,
            hotkeys: load_file(&path(HOTKEYS_FILE)).map_err(first(&path(HOTKEYS_FILE)))?,
            secrets: secrets::load(&path(SECRETS_FILE)).map_err(first(&path(SECRETS_FILE)))?,
        })
    }
}

/// Picks the first of a file's errors (the loaders never return an empty list).
fn first(file: &Path) -> impl FnOnce(Vec<ConfigError>) -> ConfigError + '_ {
    move |errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| ConfigError::File {
                file: file.to_path_buf(),
                message: "is not valid".to_owned(),
            })
    }
}

/// Validates every config file in `dir` and returns every error found, file by file (empty when
/// all are good). Within one file, a syntax or type error stops that file's parse, so it is
/// reported alone; value checks after a successful parse report all their findings.
pub fn check(dir: &Path) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    fn collect<T>(errors: &mut Vec<ConfigError>, r: Result<T, Vec<ConfigError>>) {
        if let Err(mut e) = r {
            errors.append(&mut e);
        }
    }
    collect(&mut errors, load_file::<BotConfig>(&dir.join(BOT_FILE)));
    collect(
        &mut errors,
        load_file::<ModerationConfig>(&dir.join(MODERATION_FILE)),
    );
    collect(
        &mut errors,
        load_file::<LoyaltyConfig>(&dir.join(LOYALTY_FILE)),
    );
    collect(
        &mut errors,
        load_file::<HotkeysConfig>(&dir.join(HOTKEYS_FILE)),
    );
    collect(&mut errors, secrets::load(&dir.join(SECRETS_FILE)));
    errors
}

/// Checks a config makes after parsing: values of the right type that are still wrong.
pub trait Validate {
    /// Reports problems through `check`; may normalise values (lower-casing logins, say).
    fn validate(&mut self, check: &mut Checker<'_>);
}

/// Collects value errors for one file, placing each at its key's position in the file.
pub struct Checker<'a> {
    file: &'a Path,
    outline: &'a Outline,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// Records that the value at `key` (a dotted path) is wrong.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let (line, col) = self.outline.locate(key).unwrap_or((1, 1));
        self.errors.push(ConfigError::Invalid {
            file: self.file.to_path_buf(),
            line,
            col,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// Records an error unless `value` lies in `min..=max`. Every number the bot turns into a
    /// duration, a size or an amount is checked this way when the file loads, so no value a
    /// user can write reaches an arithmetic overflow later. `unit` follows the numbers in the
    /// message (`seconds`, `minutes`, `entries`, or empty).
    pub fn within<T>(&mut self, key: &str, value: T, min: T, max: T, unit: &str)
    where
        T: PartialOrd + std::fmt::Display + Copy,
    {
        if value < min || value > max {
            let unit = if unit.is_empty() {
                String::new()
            } else {
                format!(" {unit}")
            };
            self.error(
                key,
                format!("{value} is out of range: use {min} to {max}{unit}"),
            );
        }
    }
}

/// Reads one YAML file into `T` and validates it; a missing file yields `T::default()`.
///
/// # Errors
/// Every error found, each naming file, line, column and key.
pub fn load_file<T>(path: &Path) -> Result<T, Vec<ConfigError>>
where
    T: serde::de::DeserializeOwned + Default + Validate,
{
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => {
            return Err(vec![ConfigError::File {
                file: path.into(),
                message: format!("cannot read it: {e}"),
            }]);
        }
    };
    parse_str(path, &text, false)
}

/// Parses `text` as the contents of `path`. With `redact`, no value from the file appears in
/// an error (secrets.yaml).
pub fn parse_str<T>(path: &Path, text: &str, redact: bool) -> Result<T, Vec<ConfigError>>
where
    T: serde::de::DeserializeOwned + Validate,
{
    let outline = Outline::new(text);
    let mut value: T = serde_saphyr::from_str(text)
        .map_err(|e| vec![yaml_error(path, text, &outline, &e, redact)])?;
    let mut checker = Checker {
        file: path,
        outline: &outline,
        errors: Vec::new(),
    };
    value.validate(&mut checker);
    if checker.errors.is_empty() {
        Ok(value)
    } else {
        Err(checker.errors)
    }
}

/// Turns a serde-saphyr error into our shape: the key comes from the outline (saphyr's messages
/// for wrong types do not name it) and the message is rewritten in the user's terms.
fn yaml_error(
    path: &Path,
    text: &str,
    outline: &Outline,
    err: &serde_saphyr::Error,
    redact: bool,
) -> ConfigError {
    use serde_saphyr::Error as E;
    let err = innermost(err);
    let Some((line, col)) = err.location().map(|l| (l.line(), l.column())) else {
        // No position (input that is not UTF-8, say): an error about the file as a whole.
        return ConfigError::File {
            file: path.into(),
            message: strip_location(&err.to_string()),
        };
    };
    let key = outline.path_at(line, col).to_owned();
    let leaf = key.rsplit(['.', '[']).next().unwrap_or("");
    let scalar = || scalar_at(text, line, col);
    let message = match err {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut m = format!("unknown key `{field}`");
            if let Some(best) = closest(field, expected) {
                m.push_str(&format!(" (did you mean `{best}`?)"));
            }
            if expected.is_empty() {
                m.push_str("; this section takes no keys");
            } else {
                m.push_str(&format!("; allowed keys: {}", expected.join(", ")));
            }
            m
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => format!("`{variant}` is not one of: {}", expected.join(", ")),
        E::InvalidScalar { ty, .. } => {
            let want = describe_type(ty);
            if redact {
                format!("expected {want}")
            } else {
                format!("`{}` is not {want}", scalar())
            }
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => {
            if redact {
                format!("expected {expected}")
            } else {
                format!("expected {expected}, found {unexpected}")
            }
        }
        E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => {
            if redact {
                format!("expected {expected}")
            } else {
                format!("expected {expected}, found {unexpected}")
            }
        }
        E::NullIntoString { .. } => {
            "has no value; give it one, or delete the line to use the default".to_owned()
        }
        E::Unexpected { expected, .. } => match *expected {
            "mapping start" => {
                "expected a section of `key: value` lines indented below it".to_owned()
            }
            "sequence start" => "expected a list (`- item` lines or `[a, b]`)".to_owned(),
            "string scalar" | "scalar" => {
                "expected a single value, not a list or section".to_owned()
            }
            other => format!("expected {other}"),
        },
        E::DuplicateMappingKey { .. } => format!("`{leaf}` appears twice; keep one"),
        E::Message { msg, .. } => msg.clone(),
        other => {
            // Syntax errors and the rest: saphyr's text without its location suffix (we print
            // the location in front) and without a source snippet (it could show a secret).
            {
                let mut m = strip_location(&other.without_snippet().to_string());
                if m.contains("tabs") {
                    m.push_str("; indent with spaces, not tabs");
                }
                m
            }
        }
    };
    ConfigError::Invalid {
        file: path.into(),
        line,
        col,
        key,
        message,
    }
}

/// saphyr's message without its ` at line L, column C` suffix (we print the place in front).
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

/// Peels the alias/snippet wrappers saphyr puts around the error that happened.
fn innermost(err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    let mut err = err.without_snippet();
    while let serde_saphyr::Error::AliasError { error, .. } = err {
        err = error.without_snippet();
    }
    err
}

/// The scalar written at `line:col`, as the user typed it (for "`abc` is not a number").
fn scalar_at(text: &str, line: u64, col: u64) -> String {
    let Some(raw) = text.lines().nth(line.saturating_sub(1) as usize) else {
        return String::new();
    };
    let rest: String = raw.chars().skip(col.saturating_sub(1) as usize).collect();
    if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'')
        && let Some(end) = rest[1..].find(q)
    {
        return rest[..end + 2].to_owned();
    }
    let end = rest
        .find(" #")
        .into_iter()
        .chain(rest.find([',', '}', ']']))
        .min()
        .unwrap_or(rest.len());
    rest[..end].trim().to_owned()
}

/// A Rust scalar type in words a streamer reads.
fn describe_type(ty: &str) -> String {
    match ty {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" | "u128" => "a whole number of 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "bool" | "boolean" => "true or false".into(),
        "char" => "a single character".into(),
        other => format!("a valid {other}"),
    }
}

/// The allowed name closest to a misspelt one, when it is close enough to be a typo.
fn closest<'a>(given: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(given, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the bot reads appears in the committed file, so none goes undocumented.
    fn assert_documents_every_key<T: serde::Serialize + Default>(file: &str) {
        let dir =
            std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
                .join("configs");
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let committed = Outline::new(&committed);
        let present = committed.key_paths();
        let defaults = serde_saphyr::to_string(&T::default()).unwrap_or_default();
        let wanted = Outline::new(&defaults);
        let missing: Vec<&str> = wanted
            .key_paths()
            .into_iter()
            .filter(|k| !present.contains(k))
            .collect();
        assert!(
            !wanted.key_paths().is_empty() && missing.is_empty(),
            "configs/{file} does not document {missing:?}"
        );
    }

    #[test]
    fn committed_files_document_every_key() {
        assert_documents_every_key::<BotConfig>(BOT_FILE);
        assert_documents_every_key::<ModerationConfig>(MODERATION_FILE);
        assert_documents_every_key::<LoyaltyConfig>(LOYALTY_FILE);
        assert_documents_every_key::<HotkeysConfig>(HOTKEYS_FILE);
        assert_documents_every_key::<Secrets>("secrets.example.yaml");
    }

    #[test]
    fn typo_suggestions_are_close_names_only() {
        assert_eq!(
            closest("rate_limt", &["rate_limit", "command_prefix"]),
            Some("rate_limit")
        );
        assert_eq!(closest("banana", &["rate_limit", "command_prefix"]), None);
    }

    #[test]
    fn scalar_text_is_cut_at_comments_and_flow_punctuation() {
        let text = "a: abc # note\nb: {x: 12x, y: 2}\nc: 'q q'\n";
        assert_eq!(scalar_at(text, 1, 4), "abc");
        assert_eq!(scalar_at(text, 2, 8), "12x");
        assert_eq!(scalar_at(text, 3, 4), "'q q'");
    }
}
