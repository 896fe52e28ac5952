//! The `--offline` terminal: every typed line is chat from a simulated viewer, and the bot's
//! answers are printed.
//!
//! `/as <login> [mod|sub|vip|broadcaster ...] <text>` picks the viewer and their roles;
//! `/console` prints a fresh one-time link to the web console.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::viewer::Viewer;
use super::{SimEvent, SimTwitch, SpamRaid, SpamRaidReport};

/// The usage text printed at start.
pub const HELP: &str = "Type a chat line and press Enter to chat as `viewer`.\n  \
    /as <login> [mod|sub|vip|broadcaster ...] <text>   chat as someone else, with roles\n  \
    /follow <login>                                    a follow\n  \
    /sub <login> [1|2|3]                               a subscription (tier)\n  \
    /resub <login> <months> [message]                  a resubscription\n  \
    /gift <login> <count>                              gifted subscriptions\n  \
    /cheer <login> <bits> [message]                    a cheer (with its chat line)\n  \
    /announce <login> [blue|green|orange|purple] <text> an announcement in chat\n  \
    /mod <login>, /unmod <login>                       the broadcaster adds or removes a moderator\n  \
    /raid <login> <viewers>                            a raid\n  \
    /spamraid <accounts> <lines> <text>                a spam raid: new accounts post <text>\n  \
    /redeem <login> <reward title> [| input]           a channel-points redemption\n  \
    /online, /offline                                  the stream goes live or ends\n  \
    /console                                           a new one-time web console link\n  \
    /help                                              this text";

/// What one typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// A viewer writes in chat.
    Chat {
        /// Who.
        viewer: Viewer,
        /// What they write.
        text: String,
    },
    /// A viewer causes a channel event (follow, sub, raid, ...).
    Event {
        /// Who.
        viewer: Viewer,
        /// The event.
        event: SimEvent,
    },
    /// `/spamraid`: many new accounts spamming at once.
    SpamRaid(SpamRaid),
    /// Show the commands.
    Help,
    /// `/console`: a fresh one-time sign-in link.
    Console,
    /// An empty line.
    Nothing,
    /// A line that could not be read, with what is wrong.
    Error(String),
}

/// Interprets one typed line.
pub fn parse_typed(line: &str) -> Typed {
    let line = line.trim();
    if line.is_empty() {
        return Typed::Nothing;
    }
    if line == "/help" || line == "/?" {
        return Typed::Help;
    }
    if line == "/console" {
        return Typed::Console;
    }
    if let Some(rest) = line.strip_prefix("/spamraid") {
        return parse_spam_raid(rest);
    }
    if let Some(event) = parse_event(line) {
        return event;
    }
    let Some(rest) = line.strip_prefix("/as ") else {
        return Typed::Chat {
            viewer: Viewer::new("viewer"),
            text: line.to_string(),
        };
    };
    let mut words = rest.split_whitespace().peekable();
    let Some(login) = words.next() else {
        return Typed::Error("usage: /as <login> [mod|sub|vip|broadcaster] <text>".into());
    };
    let mut viewer = Viewer::new(login);
    while let Some(role) = words.peek().and_then(|w| Viewer::role_from_word(w)) {
        viewer = viewer.with(role);
        words.next();
    }
    let text: Vec<&str> = words.collect();
    if text.is_empty() {
        return Typed::Error(format!(
            "nothing to say as {}: /as <login> [roles] <text>",
            viewer.login
        ));
    }
    Typed::Chat {
        viewer,
        text: text.join(" "),
    }
}

/// Most accounts and lines one spam raid may have.
pub const MAX_RAID_ACCOUNTS: u32 = 5_000;
/// The most lines each raider may send in one simulated spam raid.
pub const MAX_RAID_LINES: u32 = 100;

/// `/spamraid <accounts> <lines> <text>`: the lines are spread over one second each.
fn parse_spam_raid(rest: &str) -> Typed {
    let usage = || {
        Typed::Error(format!(
            "usage: /spamraid <accounts 1-{MAX_RAID_ACCOUNTS}> <lines 1-{MAX_RAID_LINES}> <text>"
        ))
    };
    let mut words = rest.split_whitespace();
    let number = |w: Option<&str>, max: u32| {
        w.and_then(|w| w.parse::<u32>().ok())
            .filter(|n| (1..=max).contains(n))
    };
    let (Some(accounts), Some(lines)) = (
        number(words.next(), MAX_RAID_ACCOUNTS),
        number(words.next(), MAX_RAID_LINES),
    ) else {
        return usage();
    };
    let text = words.collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return usage();
    }
    Typed::SpamRaid(SpamRaid {
        accounts,
        lines,
        text,
        over: std::time::Duration::from_secs(u64::from(lines)),
    })
}

/// `/follow`, `/sub`, ... as a simulated event; `None` when the line is not one of those.
fn parse_event(line: &str) -> Option<Typed> {
    let mut words = line.split_whitespace();
    let command = words.next()?;
    let usage = |u: &str| Some(Typed::Error(format!("usage: {u}")));
    let num = |w: Option<&str>, default: u32| w.map_or(Some(default), |w| w.parse().ok());
    let rest = |words: std::str::SplitWhitespace<'_>| words.collect::<Vec<_>>().join(" ");
    if let "/online" | "/offline" = command {
        let event = if command == "/online" {
            SimEvent::StreamOnline
        } else {
            SimEvent::StreamOffline
        };
        return Some(Typed::Event {
            viewer: Viewer::new("mychannel"),
            event,
        });
    }
    let known = [
        "/follow",
        "/sub",
        "/resub",
        "/gift",
        "/cheer",
        "/raid",
        "/redeem",
        "/announce",
        "/mod",
        "/unmod",
    ];
    if !known.contains(&command) {
        return None;
    }
    let Some(login) = words.next() else {
        return usage(&format!("{command} <login> ..."));
    };
    let viewer = Viewer::new(login);
    let event = match command {
        "/follow" => SimEvent::Follow,
        "/mod" => SimEvent::Moderator { added: true },
        "/unmod" => SimEvent::Moderator { added: false },
        "/sub" => match num(words.next(), 1) {
            Some(t @ 1..=3) => SimEvent::Subscribe { tier: t as u8 },
            _ => return usage("/sub <login> [1|2|3]"),
        },
        "/resub" => match num(words.next(), 2) {
            Some(months) => SimEvent::Resub {
                tier: 1,
                months,
                message: rest(words),
            },
            None => return usage("/resub <login> <months> [message]"),
        },
        "/gift" => match num(words.next(), 1) {
            Some(count) if count > 0 => SimEvent::Gift { tier: 1, count },
            _ => return usage("/gift <login> <count>"),
        },
        "/cheer" => match num(words.next(), 100) {
            Some(bits) if bits > 0 => SimEvent::Cheer {
                bits,
                message: rest(words),
            },
            _ => return usage("/cheer <login> <bits> [message]"),
        },
        "/announce" => {
            let mut text: Vec<&str> = words.collect();
            let color = match text.first().map(|w| w.to_ascii_lowercase()) {
                Some(c) if ["blue", "green", "orange", "purple"].contains(&c.as_str()) => {
                    text.remove(0);
                    c.to_ascii_uppercase()
                }
                _ => "PRIMARY".to_string(),
            };
            if text.is_empty() {
                return usage("/announce <login> [blue|green|orange|purple] <text>");
            }
            SimEvent::Announcement {
                message: text.join(" "),
                color,
            }
        }
        "/raid" => match num(words.next(), 10) {
            Some(viewers) => SimEvent::Raid { viewers },
            None => return usage("/raid <login> <viewers>"),
        },
        _ => {
            let text = rest(words);
            let (title, input) = text.split_once('|').unwrap_or((&text, ""));
            if title.trim().is_empty() {
                return usage("/redeem <login> <reward title> [| input]");
            }
            SimEvent::Redemption {
                title: title.trim().to_string(),
                cost: 100,
                input: input.trim().to_string(),
            }
        }
    };
    Some(Typed::Event { viewer, event })
}

/// Reads stdin until EOF or shutdown, feeding chat into `fake` for `channel`, and prints every
/// message the bot sends. EOF stops reading but not the bot (the console may still be in use).
/// `console_line` is what `/console` prints: a fresh one-time console link, or why there is none.
pub async fn run(sim: &SimTwitch, shutdown: CancellationToken, console_line: impl Fn() -> String) {
    let mut sent = sim.chat.subscribe();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut reading = true;
    // A spam raid runs next to reading and printing, one at a time.
    let mut raid: Option<
        std::pin::Pin<Box<dyn std::future::Future<Output = SpamRaidReport> + '_>>,
    > = None;
    loop {
        let raid_done = async {
            match raid.as_mut() {
                Some(r) => r.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            report = raid_done => {
                raid = None;
                println!(
                    "(spam raid over: {} of {} lines reached chat)",
                    report.delivered, report.sent
                );
            }
            line = stdin.next_line(), if reading => match line {
                Ok(Some(line)) => match parse_typed(&line) {
                    Typed::Chat { viewer, text } => {
                        sim.chat_as(&viewer, &text).await;
                    }
                    Typed::Event { viewer, event } => {
                        sim.fire(&viewer, &event).await;
                        println!("(fired {event:?} from {})", viewer.login);
                    }
                    Typed::SpamRaid(spec) => {
                        if raid.is_some() {
                            println!("a spam raid is still running");
                        } else {
                            println!(
                                "(spam raid: {} accounts, {} lines each)",
                                spec.accounts, spec.lines
                            );
                            raid = Some(Box::pin(async move { sim.spam_raid(&spec).await }));
                        }
                    }
                    Typed::Help => println!("{HELP}"),
                    Typed::Console => {
                        println!("{}", console_line());
                    }
                    Typed::Error(e) => println!("{e}"),
                    Typed::Nothing => {}
                },
                _ => reading = false,
            },
            msg = sent.recv() => match msg {
                Ok(line) => {
                    if let Some(m) = line.privmsg() {
                        println!("[#{}] {}: {}", m.channel, line.login, m.text);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Roles;

    #[test]
    fn plain_lines_come_from_viewer() {
        assert_eq!(
            parse_typed("!ping"),
            Typed::Chat {
                viewer: Viewer::new("viewer"),
                text: "!ping".into()
            }
        );
    }

    #[test]
    fn as_picks_login_and_roles() {
        let Typed::Chat { viewer, text } = parse_typed("/as Alice mod sub hello there") else {
            panic!("not chat")
        };
        assert_eq!(viewer.login, "alice");
        assert!(
            viewer.roles.contains(Roles::MODERATOR) && viewer.roles.contains(Roles::SUBSCRIBER)
        );
        assert_eq!(text, "hello there");
    }

    #[test]
    fn announce_takes_an_optional_colour() {
        assert_eq!(
            parse_typed("/announce mod1 orange Stream starts soon"),
            Typed::Event {
                viewer: Viewer::new("mod1"),
                event: SimEvent::Announcement {
                    message: "Stream starts soon".into(),
                    color: "ORANGE".into()
                }
            }
        );
        assert_eq!(
            parse_typed("/announce mod1 hello"),
            Typed::Event {
                viewer: Viewer::new("mod1"),
                event: SimEvent::Announcement {
                    message: "hello".into(),
                    color: "PRIMARY".into()
                }
            }
        );
        assert!(matches!(parse_typed("/announce mod1"), Typed::Error(_)));
        assert_eq!(
            parse_typed("/unmod MyBot"),
            Typed::Event {
                viewer: Viewer::new("mybot"),
                event: SimEvent::Moderator { added: false }
            }
        );
    }

    #[test]
    fn event_commands_parse() {
        assert_eq!(
            parse_typed("/sub Alice 2"),
            Typed::Event {
                viewer: Viewer::new("alice"),
                event: SimEvent::Subscribe { tier: 2 }
            }
        );
        assert_eq!(
            parse_typed("/redeem bob Hydrate | now"),
            Typed::Event {
                viewer: Viewer::new("bob"),
                event: SimEvent::Redemption {
                    title: "Hydrate".into(),
                    cost: 100,
                    input: "now".into()
                }
            }
        );
        assert!(matches!(parse_typed("/sub alice 9"), Typed::Error(_)));
        assert!(matches!(parse_typed("/raid"), Typed::Error(_)));
    }

    #[test]
    fn spam_raid_parses_and_refuses_nonsense() {
        assert_eq!(
            parse_typed("/spamraid 30 5 free views at spam.example.com"),
            Typed::SpamRaid(SpamRaid {
                accounts: 30,
                lines: 5,
                text: "free views at spam.example.com".into(),
                over: std::time::Duration::from_secs(5),
            })
        );
        assert!(matches!(parse_typed("/spamraid 30 5"), Typed::Error(_)));
        assert!(matches!(parse_typed("/spamraid 0 5 x"), Typed::Error(_)));
        assert!(matches!(
            parse_typed("/spamraid 999999 5 x"),
            Typed::Error(_)
        ));
    }

    #[test]
    fn console_asks_for_a_link() {
        assert_eq!(parse_typed(" /console "), Typed::Console);
        assert!(matches!(parse_typed("/console please"), Typed::Chat { .. }));
    }

    #[test]
    fn as_without_text_is_explained() {
        assert!(matches!(parse_typed("/as bob vip"), Typed::Error(_)));
        assert_eq!(parse_typed("   "), Typed::Nothing);
    }
}
