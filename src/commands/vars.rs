//! Variables in a text command's text (`{user}`, `{random 1-100}`, `{time Europe/Berlin}`...):
//! parsed once when the command is saved, so an unknown variable is refused then, and expanded
//! once per use. Values are pasted in and never scanned again, so a viewer's argument cannot
//! smuggle in a variable; the output stops at Twitch's 500 characters and the work per use is
//! bounded by the template (at most [`MAX_LOOKUPS`] Twitch look-ups).

use std::fmt::Write as _;

use rand::Rng;

/// Longest text a command may hold, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 500;
/// Longest answer, in characters: Twitch's limit for one chat message.
pub const MAX_OUTPUT_CHARS: usize = 500;
/// Most variables in one text that ask Twitch (`{game}`, `{followage}`, ...).
pub const MAX_LOOKUPS: usize = 4;
/// Most choices in one `{pick}`.
const MAX_PICKS: usize = 50;

/// The variables, as documented in docs/commands.md.
pub const NAMES: [&str; 18] = [
    "user",
    "touser",
    "args",
    "channel",
    "count",
    "points",
    "uptime",
    "game",
    "title",
    "followage",
    "accountage",
    "random",
    "pick",
    "randomchatter",
    "followers",
    "subscribers",
    "time",
    "1-9",
];

/// One variable.
#[derive(Debug, Clone)]
enum Var {
    User,
    ToUser,
    Args,
    /// `{1}`..`{9}`: the nth word after the command.
    Arg(usize),
    Channel,
    Count,
    Points,
    Uptime,
    Game,
    Title,
    Followage,
    Accountage,
    Random(i64, i64),
    Pick(Vec<String>),
    RandomChatter,
    Followers,
    Subscribers,
    Time(jiff::tz::TimeZone),
}

impl Var {
    /// Whether it asks Twitch.
    fn looks_up(&self) -> bool {
        matches!(
            self,
            Var::Uptime
                | Var::Game
                | Var::Title
                | Var::Followage
                | Var::Accountage
                | Var::RandomChatter
                | Var::Followers
                | Var::Subscribers
        )
    }
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Var(Var),
}

/// Why a command's text was refused; says where and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text is empty.
    #[error("the text must not be empty")]
    Empty,
    /// The text is longer than [`MAX_TEMPLATE_CHARS`] (its length).
    #[error("the text is {0} characters long; the limit is {MAX_TEMPLATE_CHARS}")]
    TooLong(usize),
    /// A `{name}` that is no variable.
    #[error(
        "unknown variable {{{0}}}: the variables are {{user}}, {{touser}}, {{args}}, {{1}}..{{9}}, \
         {{channel}}, {{count}}, {{points}}, {{uptime}}, {{game}}, {{title}}, {{followage}}, \
         {{accountage}}, {{random 1-100}}, {{pick a|b|c}}, {{randomchatter}}, {{followers}}, \
         {{subscribers}}, {{time Europe/Berlin}} (write {{{{ for a literal {{)"
    )]
    Unknown(String),
    /// A `{` never closed (at this character).
    #[error("a {{ at character {0} is never closed (write {{{{ for a literal {{)")]
    Unclosed(usize),
    /// `{random …}` without a `low-high` range.
    #[error("{{random {0}}}: write two whole numbers low-high, such as {{random 1-100}}")]
    Random(String),
    /// `{pick …}` with no choices or too many.
    #[error(
        "{{pick {0}}}: write 1 to {MAX_PICKS} choices split by |, such as {{pick heads|tails}}"
    )]
    Pick(String),
    /// `{time …}` with an unknown time zone.
    #[error("{{time {0}}}: not a time zone this machine knows (such as Europe/Berlin or UTC)")]
    Zone(String),
    /// More Twitch look-ups than [`MAX_LOOKUPS`] (how many).
    #[error(
        "the text asks Twitch {0} times; at most {MAX_LOOKUPS} per command ({{uptime}}, {{game}} and {{title}} count once together)"
    )]
    TooManyLookups(usize),
}

/// A parsed text, ready to expand.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

/// What a use of the command knows without asking anyone.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    /// The viewer's display name.
    pub user: &'a str,
    /// The viewer's Twitch user id.
    pub user_id: &'a str,
    /// The words after the command.
    pub args: &'a [&'a str],
    /// The channel's login.
    pub channel: &'a str,
    /// The command's counter after this use.
    pub count: i64,
}

/// A live stream as the variables need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Unix seconds.
    pub started_at: i64,
    /// The stream's title.
    pub title: String,
    /// The category (game) name.
    pub game: String,
}

/// What the variables look up: points from storage, the rest from Twitch. A failure is a
/// short reason; the variable then reads `(unavailable)`.
pub trait Facts {
    /// The viewer's points balance.
    fn points(&self, user_id: &str) -> Result<i64, String>;
    /// The live stream, `None` when offline.
    fn stream(&self) -> Result<Option<Live>, String>;
    /// When `login` followed the channel (unix seconds), `None` when they do not.
    fn followed_at(&self, login: &str) -> Result<Option<i64>, String>;
    /// When the account `login` was made (unix seconds), `None` when there is no such account.
    fn created_at(&self, login: &str) -> Result<Option<i64>, String>;
    /// The channel's follower count.
    fn followers(&self) -> Result<u64, String>;
    /// The channel's subscriber count.
    fn subscribers(&self) -> Result<u64, String>;
    /// A viewer in chat now, `None` when nobody is.
    fn random_chatter(&self) -> Result<Option<String>, String>;
    /// Unix seconds now.
    fn now(&self) -> i64;
    /// The channel's title and category, live or not (`None` when unknown).
    fn channel(&self) -> Result<Option<(String, String)>, String> {
        Ok(None)
    }
    /// The account id of `login`, `None` when unknown or not available.
    fn user_id(&self, login: &str) -> Option<String> {
        let _ = login;
        None
    }
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    /// An unknown or malformed variable, an unclosed `{`, an empty or too long text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong(chars));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut at = 0usize; // characters consumed, for error positions
        while let Some(c) = rest.chars().next() {
            let width = c.len_utf8();
            match c {
                '{' if rest.starts_with("{{") => {
                    literal.push('{');
                    rest = rest.get(2..).unwrap_or_default();
                    at += 2;
                }
                '}' if rest.starts_with("}}") => {
                    literal.push('}');
                    rest = rest.get(2..).unwrap_or_default();
                    at += 2;
                }
                '{' => {
                    let inner_and_more = rest.get(1..).unwrap_or_default();
                    let Some(end) = inner_and_more.find('}') else {
                        return Err(TemplateError::Unclosed(at + 1));
                    };
                    let inner = inner_and_more.get(..end).unwrap_or_default();
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(parse_var(inner)?));
                    at += inner.chars().count() + 2;
                    rest = inner_and_more.get(end + 1..).unwrap_or_default();
                }
                _ => {
                    literal.push(c);
                    rest = rest.get(width..).unwrap_or_default();
                    at += 1;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        // `{uptime}`, `{game}` and `{title}` share one look-up of the stream.
        let stream = parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::Uptime | Var::Game | Var::Title)));
        let lookups = parts
            .iter()
            .filter(|p| {
                matches!(p, Part::Var(v) if v.looks_up()
                    && !matches!(v, Var::Uptime | Var::Game | Var::Title))
            })
            .count()
            + usize::from(stream);
        if lookups > MAX_LOOKUPS {
            return Err(TemplateError::TooManyLookups(lookups));
        }
        Ok(Template { parts })
    }

    /// Whether the text shows `{count}` (each use then counts).
    pub fn uses_count(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::Count)))
    }

    /// Whether expanding it asks storage or Twitch (and so must not run on the chat path).
    pub fn looks_up(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(v) if v.looks_up() || matches!(v, Var::Points)))
    }

    /// The answer for one use: every variable replaced once, cut at [`MAX_OUTPUT_CHARS`].
    pub fn expand(&self, input: &Input<'_>, facts: &dyn Facts) -> String {
        let mut out = String::new();
        let mut stream: Option<Result<Option<Live>, String>> = None;
        let mut stream_of =
            |facts: &dyn Facts| stream.get_or_insert_with(|| facts.stream()).clone();
        // Offline, `{game}` and `{title}` read the channel's settings, as Twitch shows them.
        let mut channel = None;
        let mut channel_of =
            |facts: &dyn Facts| channel.get_or_insert_with(|| facts.channel()).clone();
        let to_user = input
            .args
            .first()
            .map(|a| a.trim_start_matches('@'))
            .filter(|a| !a.is_empty())
            .unwrap_or(input.user);
        for part in &self.parts {
            if out.chars().count() >= MAX_OUTPUT_CHARS {
                break;
            }
            let var = match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::Var(v) => v,
            };
            match var {
                Var::User => out.push_str(input.user),
                Var::ToUser => out.push_str(to_user),
                Var::Args => out.push_str(&input.args.join(" ")),
                Var::Arg(n) => out.push_str(input.args.get(n - 1).copied().unwrap_or_default()),
                Var::Channel => out.push_str(input.channel),
                Var::Count => {
                    let _ = write!(out, "{}", input.count);
                }
                Var::Points => push(&mut out, facts.points(input.user_id).map(|p| p.to_string())),
                Var::Uptime => push(
                    &mut out,
                    stream_of(facts).map(|s| match s {
                        Some(live) => span(facts.now().saturating_sub(live.started_at), false),
                        None => "offline".to_owned(),
                    }),
                ),
                Var::Game => push(
                    &mut out,
                    stream_of(facts).and_then(|s| match s {
                        Some(live) => Ok(live.game),
                        None => channel_of(facts)
                            .map(|c| c.map_or_else(|| "offline".into(), |(_, game)| game)),
                    }),
                ),
                Var::Title => push(
                    &mut out,
                    stream_of(facts).and_then(|s| match s {
                        Some(live) => Ok(live.title),
                        None => channel_of(facts)
                            .map(|c| c.map_or_else(|| "offline".into(), |(title, _)| title)),
                    }),
                ),
                Var::Followage => push(
                    &mut out,
                    facts
                        .followed_at(&to_user.to_ascii_lowercase())
                        .map(|at| match at {
                            Some(at) => span(facts.now().saturating_sub(at), true),
                            None => "not following".to_owned(),
                        }),
                ),
                Var::Accountage => push(
                    &mut out,
                    facts
                        .created_at(&to_user.to_ascii_lowercase())
                        .map(|at| match at {
                            Some(at) => span(facts.now().saturating_sub(at), true),
                            None => "no such account".to_owned(),
                        }),
                ),
                Var::Random(lo, hi) => {
                    let n = rand::rng().random_range(*lo..=*hi);
                    let _ = write!(out, "{n}");
                }
                Var::Pick(choices) => {
                    let i = rand::rng().random_range(0..choices.len().max(1));
                    out.push_str(choices.get(i).map(String::as_str).unwrap_or_default());
                }
                Var::RandomChatter => push(
                    &mut out,
                    facts
                        .random_chatter()
                        .map(|c| c.unwrap_or_else(|| "nobody".to_owned())),
                ),
                Var::Followers => push(&mut out, facts.followers().map(|n| n.to_string())),
                Var::Subscribers => push(&mut out, facts.subscribers().map(|n| n.to_string())),
                Var::Time(zone) => {
                    let now = jiff::Timestamp::from_second(facts.now())
                        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                        .to_zoned(zone.clone());
                    let _ = write!(out, "{}", now.strftime("%H:%M"));
                }
            }
        }
        cut(out, MAX_OUTPUT_CHARS)
    }
}

/// A looked-up value, or `(unavailable)` (and the reason in the log).
fn push(out: &mut String, value: Result<String, String>) {
    match value {
        Ok(v) => out.push_str(&v),
        Err(why) => {
            tracing::debug!("a text command's variable is unavailable: {why}");
            out.push_str("(unavailable)");
        }
    }
}

/// `text` cut to `max` characters.
pub fn cut(mut text: String, max: usize) -> String {
    if let Some((i, _)) = text.char_indices().nth(max) {
        text.truncate(i);
    }
    text
}

/// A span of seconds in words: `2 years 3 months` (long) or `3h 12m` (short).
pub fn span(secs: i64, long: bool) -> String {
    let secs = secs.max(0);
    if long {
        let days = secs / 86_400;
        let (years, months, d) = (days / 365, days % 365 / 30, days % 365 % 30);
        let mut words = Vec::new();
        for (n, unit) in [(years, "year"), (months, "month"), (d, "day")] {
            if n > 0 {
                words.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
            }
        }
        if words.is_empty() {
            return "less than a day".to_owned();
        }
        words.join(" ")
    } else {
        let (h, m) = (secs / 3600, secs % 3600 / 60);
        if h > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{m}m")
        }
    }
}

fn parse_var(inner: &str) -> Result<Var, TemplateError> {
    let inner = inner.trim();
    let (name, arg) = inner
        .split_once(char::is_whitespace)
        .map_or((inner, ""), |(n, a)| (n, a.trim()));
    let lower = name.to_ascii_lowercase();
    let plain = |v: Var| {
        if arg.is_empty() {
            Ok(v)
        } else {
            Err(TemplateError::Unknown(inner.to_owned()))
        }
    };
    match lower.as_str() {
        "user" => plain(Var::User),
        "touser" => plain(Var::ToUser),
        "args" => plain(Var::Args),
        "channel" => plain(Var::Channel),
        "count" => plain(Var::Count),
        "points" => plain(Var::Points),
        "uptime" => plain(Var::Uptime),
        "game" => plain(Var::Game),
        "title" => plain(Var::Title),
        "followage" => plain(Var::Followage),
        "accountage" => plain(Var::Accountage),
        "randomchatter" => plain(Var::RandomChatter),
        "followers" => plain(Var::Followers),
        "subscribers" | "subs" => plain(Var::Subscribers),
        "random" => {
            let bad = || TemplateError::Random(arg.to_owned());
            // `1-100`, `-5-5`: the dash that splits is the first one after a digit.
            let split = arg
                .char_indices()
                .skip(1)
                .find(|(i, c)| *c == '-' && arg[..*i].ends_with(|p: char| p.is_ascii_digit()))
                .map(|(i, _)| i)
                .ok_or_else(bad)?;
            let lo: i64 = arg[..split].trim().parse().map_err(|_| bad())?;
            let hi: i64 = arg[split + 1..].trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            Ok(Var::Random(lo, hi))
        }
        "pick" => {
            let choices: Vec<String> = arg
                .split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if choices.is_empty() || choices.len() > MAX_PICKS {
                return Err(TemplateError::Pick(arg.to_owned()));
            }
            Ok(Var::Pick(choices))
        }
        "time" => {
            let zone = if arg.is_empty() { "UTC" } else { arg };
            jiff::tz::TimeZone::get(zone)
                .map(Var::Time)
                .map_err(|_| TemplateError::Zone(zone.to_owned()))
        }
        n if n.len() == 1 && arg.is_empty() => match n.as_bytes().first() {
            Some(d @ b'1'..=b'9') => Ok(Var::Arg(usize::from(d - b'0'))),
            _ => Err(TemplateError::Unknown(inner.to_owned())),
        },
        _ => Err(TemplateError::Unknown(inner.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Facts for Fixed {
        fn points(&self, _: &str) -> Result<i64, String> {
            Ok(42)
        }
        fn stream(&self) -> Result<Option<Live>, String> {
            Ok(Some(Live {
                started_at: 1_000_000 - 3_723,
                title: "speedrun {user}".into(),
                game: "Celeste".into(),
            }))
        }
        fn followed_at(&self, login: &str) -> Result<Option<i64>, String> {
            Ok((login == "alice").then_some(1_000_000 - 400 * 86_400))
        }
        fn created_at(&self, _: &str) -> Result<Option<i64>, String> {
            Err("the Twitch API is off".into())
        }
        fn followers(&self) -> Result<u64, String> {
            Ok(7)
        }
        fn subscribers(&self) -> Result<u64, String> {
            Ok(3)
        }
        fn random_chatter(&self) -> Result<Option<String>, String> {
            Ok(Some("bob".into()))
        }
        fn now(&self) -> i64 {
            1_000_000
        }
    }

    fn expand(text: &str, args: &[&str]) -> String {
        Template::parse(text).unwrap().expand(
            &Input {
                user: "Alice",
                user_id: "1",
                args,
                channel: "mychan",
                count: 5,
            },
            &Fixed,
        )
    }

    #[test]
    fn every_variable_is_filled_in() {
        assert_eq!(
            expand(
                "hi {user} -> {touser}: {args} / {1}{2}{9} in {channel}, #{count}, {points}",
                &["@bob", "x"]
            ),
            "hi Alice -> bob: @bob x / @bobx in mychan, #5, 42"
        );
        assert_eq!(
            expand(
                "{uptime} {game} {title} {followers} {subscribers} {randomchatter}",
                &[]
            ),
            "1h 2m Celeste speedrun {user} 7 3 bob"
        );
        assert_eq!(
            expand("{followage} / {accountage}", &[]),
            "1 year 1 month 5 days / (unavailable)"
        );
        assert_eq!(expand("{time UTC}", &[]), "13:46");
        let r: i64 = expand("{random 3-4}", &[]).parse().unwrap();
        assert!((3..=4).contains(&r));
        assert!(["a", "b"].contains(&expand("{pick a | b}", &[]).as_str()));
        assert_eq!(expand("{{user}} }} x", &[]), "{user} } x");
    }

    #[test]
    fn a_viewer_s_argument_is_never_expanded() {
        assert_eq!(
            expand("Join {touser}: {args}", &["{user}", "{random 1-9}"]),
            "Join {user}: {user} {random 1-9}"
        );
    }

    #[test]
    fn unknown_and_malformed_variables_are_refused_when_saved() {
        for (text, want) in [
            ("hi {usr}", "unknown variable {usr}"),
            ("hi {user", "never closed"),
            ("{random 5-1}", "two whole numbers"),
            ("{random x}", "two whole numbers"),
            ("{pick }", "choices split by |"),
            ("{time Mars/Olympus}", "time zone"),
            ("{user extra}", "unknown variable"),
            ("{0}", "unknown variable"),
            (
                "{followage}{accountage}{followers}{subscribers}{randomchatter}",
                "at most 4",
            ),
            ("   ", "empty"),
        ] {
            let err = Template::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        assert!(Template::parse(&"x".repeat(501)).is_err());
    }

    #[test]
    fn the_answer_stops_at_500_characters() {
        let long = "y".repeat(400);
        let args = [long.as_str(), long.as_str()];
        let out = expand("{args}{args}{args}", &args);
        assert_eq!(out.chars().count(), MAX_OUTPUT_CHARS);
        let wide = "é".repeat(300);
        assert_eq!(
            expand("{1}{1}", &[wide.as_str()]).chars().count(),
            MAX_OUTPUT_CHARS
        );
    }

    #[test]
    fn extreme_random_bounds_do_not_panic() {
        let out = expand("{random -9223372036854775808-9223372036854775807}", &[]);
        assert!(out.parse::<i64>().is_ok(), "{out}");
    }

    proptest::proptest! {
        /// Whatever a moderator saves and a viewer types: no panic, at most 500 characters,
        /// and a saved text's braces never come from the viewer.
        #[test]
        fn any_text_and_any_arguments_expand_within_bounds(
            text in "[{}a-z0-9 |/_-]{0,80}",
            args in proptest::collection::vec("[{}a-z0-9 ]{0,300}", 0..12),
        ) {
            if let Ok(t) = Template::parse(&text) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = t.expand(
                    &Input { user: "u", user_id: "1", args: &args, channel: "c", count: 0 },
                    &Fixed,
                );
                proptest::prop_assert!(out.chars().count() <= MAX_OUTPUT_CHARS);
            }
        }

        /// Texts made of real variables always save (when short enough) and expand.
        #[test]
        fn texts_of_known_variables_save_and_expand(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "{user}", "{touser}", "{args}", "{1}", "{9}", "{count}", "{points}",
                "{random -5-5}", "{pick a|b}", "{time UTC}", "{uptime}", "{{", "}}", "x ",
            ]), 1..40),
            args in proptest::collection::vec("[{}a-z]{0,60}", 0..4),
        ) {
            let text = pieces.concat();
            let t = Template::parse(&text);
            let fits = text.trim().chars().count() <= MAX_TEMPLATE_CHARS && !text.trim().is_empty();
            proptest::prop_assert_eq!(t.is_ok(), fits, "{}: {:?}", text, t);
            if let Ok(t) = t {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = t.expand(
                    &Input { user: "u", user_id: "1", args: &args, channel: "c", count: 0 },
                    &Fixed,
                );
                proptest::prop_assert!(out.chars().count() <= MAX_OUTPUT_CHARS);
            }
        }
    }
}
