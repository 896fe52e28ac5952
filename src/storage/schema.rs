//! The on-disk layout: every redb table, its key and value types, and the records stored as JSON.
//!
//! Changing a table's types, a record's layout or meaning means a new [`SCHEMA_VERSION`] and a step in
//! `storage::migrate`.

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

/// The schema this build writes. Older files are migrated forward at start; newer ones refused.
pub const SCHEMA_VERSION: u64 = 3;

/// `meta`: small named numbers (`schema_version`, sequence counters).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `users`: Twitch user id → the viewer's profile (first and last seen, messages, login,
/// display name) in the compact binary layout of `users::encode_profile`. Schema 2 kept the
/// balance in this record too and schema 1 stored JSON; both are still read for migration.
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// `balances`: Twitch user id → (points, watch seconds, last watched at, flags), fixed width.
/// Kept apart from the profile so a watch-time tick rewrites only these small rows (half the
/// pages of the full records); a viewer without a row has nothing and has not opted out.
pub const BALANCES: TableDefinition<&str, Balance> = TableDefinition::new("balances");
/// A `balances` row: (points, watch seconds, unix seconds last watched, flags: 1 = opted out).
pub type Balance = (u64, u64, u64, u8);
/// `logins`: lower-case login → user id (the newest owner of that login).
pub const LOGINS: TableDefinition<&str, &str> = TableDefinition::new("logins");
/// `audit`: sequence number → JSON: an [`AuditEntry`] per points change, or one [`AuditBatch`]
/// per watch-time tick (thousands of changes in one row keep the tick's commit small).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// `events`: processed event id → unix seconds when it was applied.
pub const EVENTS: TableDefinition<&str, u64> = TableDefinition::new("events");
/// `script_kv`: (script name, key) → value (a string; scripts store JSON text in it).
pub const SCRIPT_KV: TableDefinition<(&str, &str), &str> = TableDefinition::new("script_kv");
/// `modlog`: sequence number → moderation log entry (JSON).
pub const MODLOG: TableDefinition<u64, &[u8]> = TableDefinition::new("modlog");
/// `stream_stats`: sequence number → stream statistics record (JSON).
pub const STREAM_STATS: TableDefinition<u64, &[u8]> = TableDefinition::new("stream_stats");
/// `stream_open`: stream id → the stream being counted (JSON), saved every minute so a restart
/// mid-stream resumes it and a stream that ended while the bot was down is settled; the row goes
/// when the stream is settled. A new table, created on first write: older files simply lack it
/// (no migration needed).
pub const STREAM_OPEN: TableDefinition<&str, &[u8]> = TableDefinition::new("stream_open");
/// `imports`: (source format, login) → the points that source's export last gave this login;
/// re-importing applies only the difference, which makes imports idempotent.
pub const IMPORTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("imports");

/// `text_commands`: command name → the text command (JSON, `commands::TextCommand`): its
/// text, aliases, level, cooldowns and counter. New tables, created on first write: older files
/// simply lack them (no migration needed).
pub const TEXT_COMMANDS: TableDefinition<&str, &[u8]> = TableDefinition::new("text_commands");
/// `text_command_log`: sequence number → one change of the text commands (JSON: who, when,
/// the command before and after), newest last; `!cmd undo` restores the newest one's before.
pub const TEXT_COMMAND_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("text_command_log");
/// `regulars`: Twitch user id → login, the regulars added from chat or the console.
pub const REGULARS: TableDefinition<&str, &str> = TableDefinition::new("regulars");

/// Meta key of the schema version.
pub const META_SCHEMA: &str = "schema_version";
/// Meta keys of the append-only sequences: the points audit trail's.
pub const META_AUDIT_SEQ: &str = "audit_seq";
/// The moderation log's sequence.
pub const META_MODLOG_SEQ: &str = "modlog_seq";
/// The stored streams' sequence.
pub const META_STATS_SEQ: &str = "stats_seq";

/// Prefix of the placeholder id given to a login known only from an import; the record is merged
/// into the real id the first time that login chats.
pub const PENDING_PREFIX: &str = "login:";

/// One viewer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Twitch user id (or `login:<login>` until the viewer is first seen); the table key.
    #[serde(default)]
    pub id: String,
    /// Lower-case login, as last seen.
    #[serde(default)]
    pub login: String,
    /// Display name, as last seen.
    #[serde(default)]
    pub display_name: String,
    /// Unix seconds of the first message or award.
    #[serde(default)]
    pub first_seen: u64,
    /// Unix seconds of the latest message or award.
    #[serde(default)]
    pub last_seen: u64,
    /// Chat messages counted.
    #[serde(default)]
    pub messages: u64,
    /// Seconds of watch time credited by loyalty ticks.
    #[serde(default)]
    pub watch_secs: u64,
    /// Current balance; never below zero.
    #[serde(default)]
    pub points: u64,
    /// The viewer asked not to take part in loyalty (earns nothing, not on leaderboards).
    #[serde(default)]
    pub opted_out: bool,
}

/// One points change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: u64,
    /// User id.
    pub user: String,
    /// Signed change.
    pub delta: i64,
    /// Why (`watch`, `follow`, `script:give`, `import:streamelements`, ...).
    pub reason: String,
    /// Balance after the change.
    pub balance: u64,
}

/// Every change of one watch-time tick, in one audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBatch {
    /// Unix seconds.
    pub at: u64,
    /// Why (the payout's reason).
    pub reason: String,
    /// (user id, delta, balance after) per credited viewer.
    pub changes: Vec<(String, i64, u64)>,
}

/// Just the time of an audit row, whichever shape it has (for pruning).
#[derive(Debug, Deserialize)]
pub struct AuditTime {
    /// Unix seconds.
    pub at: u64,
}
