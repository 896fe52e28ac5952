//! The simulated Twitch used by `--offline` and by tests: a chat server speaking Twitch's IRC
//! dialect on 127.0.0.1 ([`chat`]), simulated viewers ([`viewer`]) and the terminal driver
//! ([`terminal`]), and the Twitch API side: Helix, OAuth and EventSub WebSocket on one port
//! ([`helix`], [`auth`], [`eventsub`]), with Shield Mode and chat settings ([`shield`]) and the broadcaster's tools ([`broadcaster`], channel-point rewards in [`rewards`]). The bot's real client code talks to it exactly as it would to Twitch.
//! The web console's simulator requests are read in [`requests`]. The flood benchmark's server
//! (`flood`, for `examples/flood`) is compiled only with the `bench-support` feature.

pub mod auth;
pub mod broadcaster;
pub mod bucket;
pub mod chat;
pub mod chat_events;
pub mod chat_send;
pub mod eventsub;
#[cfg(feature = "bench-support")]
pub mod flood;
pub mod helix;
pub mod polls;
pub mod punished;
pub mod requests;
pub mod rewards;
pub mod shield;
pub mod terminal;
pub mod viewer;

pub use chat::{ClientLine, FakeChat, FakeChatOptions, SentMessage};
pub use helix::{FakeApiOptions, FakeTwitchApi};
pub use viewer::Viewer;

use serde_json::{Value, json};

use crate::config::Config;

/// The whole simulated Twitch `--offline` runs against: chat plus the API side.
pub struct SimTwitch {
    /// The simulated chat server (IRC over WebSocket) and its viewers.
    pub chat: FakeChat,
    /// The simulated Helix, OAuth and EventSub side.
    pub api: FakeTwitchApi,
    /// The channel the simulation is about.
    pub channel: String,
    /// Logins that chatted during the simulated stream: each new one is one more viewer, so the
    /// stats chart of a simulated stream has something to show.
    chatted: std::sync::Mutex<std::collections::HashSet<String>>,
    streams: std::sync::atomic::AtomicU64,
    raids: std::sync::atomic::AtomicU64,
}

/// A spam raid for [`SimTwitch::spam_raid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamRaid {
    /// New accounts, none following the channel.
    pub accounts: u32,
    /// Lines each.
    pub lines: u32,
    /// What each line says.
    pub text: String,
    /// How long the raid takes.
    pub over: std::time::Duration,
}

/// What a spam raid got through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpamRaidReport {
    /// Lines the raiders sent.
    pub sent: u64,
    /// Lines Twitch delivered to chat (the rest were stopped by Shield Mode or followers-only).
    pub delivered: u64,
    /// Lines delivered in each round (every account's first line, second line, ...).
    pub per_line: Vec<u64>,
    /// The user ids of the raiders with at least one line delivered.
    pub reached: Vec<String>,
}

/// A viewer event the terminal or the console's simulator can fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    /// A new follower.
    Follow,
    /// A new subscription.
    Subscribe {
        /// Tier 1, 2 or 3.
        tier: u8,
    },
    /// A resubscription with a message.
    Resub {
        /// Tier 1, 2 or 3.
        tier: u8,
        /// Months subscribed in all.
        months: u32,
        /// The subscriber's message.
        message: String,
    },
    /// Gifted subscriptions.
    Gift {
        /// Tier 1, 2 or 3.
        tier: u8,
        /// How many.
        count: u32,
    },
    /// Bits cheered.
    Cheer {
        /// How many bits.
        bits: u32,
        /// The cheer's message.
        message: String,
    },
    /// A raid into the channel.
    Raid {
        /// How many viewers come with it.
        viewers: u32,
    },
    /// A channel-point redemption of the reward titled `title`.
    Redemption {
        /// The reward's title.
        title: String,
        /// The reward's cost in channel points.
        cost: u32,
        /// What the viewer typed.
        input: String,
    },
    /// A moderator's (or the broadcaster's) announcement in chat: Twitch's chat shows it as a
    /// USERNOTICE (`msg-id=announcement`), EventSub chat as a `channel.chat.notification`.
    Announcement {
        /// The announcement's text.
        message: String,
        /// Its colour: `PRIMARY`, `BLUE`, `GREEN`, `ORANGE` or `PURPLE`.
        color: String,
    },
    /// The broadcaster makes the viewer a moderator, or takes that away: the channel's
    /// moderator list, EventSub's `channel.moderator.add` / `.remove`, and the badge in the
    /// viewer's USERSTATE (try it on the bot: its send rate follows).
    Moderator {
        /// Made a moderator (`true`) or no longer one.
        added: bool,
    },
    /// The stream goes live.
    StreamOnline,
    /// The stream ends.
    StreamOffline,
    /// Any other EventSub type, with Twitch's sample payload.
    Sample {
        /// The EventSub subscription type (`channel.hype_train.begin`, ...).
        kind: String,
    },
}

impl SimTwitch {
    /// Starts chat and API fakes and points `config` at them (with valid fake tokens).
    ///
    /// # Errors
    /// When a loopback port cannot be bound.
    pub async fn start(config: &mut Config, channel: &str) -> std::io::Result<SimTwitch> {
        let chat = FakeChat::start(FakeChatOptions::default()).await?;
        let api = FakeTwitchApi::start(FakeApiOptions {
            bot_login: config.bot.username.clone(),
            channel: channel.to_string(),
            pending_polls: 0,
            ..FakeApiOptions::default()
        })
        .await?;
        api.configure(&mut config.bot, &mut config.secrets);
        // As on Twitch, a banned or timed-out viewer's later lines reach nobody.
        chat.apply_punishments(api.punishments());
        // Twitch's chat feeds IRC and EventSub alike.
        chat.mirror_to(api.chat_mirror());
        // What the bot sends over Helix appears in the same room.
        api.post_chat_to(chat.room());
        config.bot.twitch.chat_url = chat.ws_url();
        // Offline means offline: no third-party emote site is asked for anything.
        config.bot.emotes.bttv = false;
        config.bot.emotes.ffz = false;
        config.bot.emotes.seventv = false;
        // A simulated stream is minutes long: sample its viewers every minute, not every five.
        config.bot.stream.viewer_sample_minutes = 1;
        Ok(SimTwitch {
            chat,
            api,
            channel: channel.to_string(),
            chatted: Default::default(),
            streams: Default::default(),
            raids: Default::default(),
        })
    }

    /// A viewer writes in chat; returns the message id (also when Twitch did not deliver it).
    pub async fn chat_as(&self, viewer: &Viewer, text: &str) -> String {
        self.try_chat_as(viewer, text).await.unwrap_or_default()
    }

    /// A viewer writes in chat; returns the message id, or `None` when Twitch withheld the
    /// line (Shield Mode or followers-only and the viewer does not follow long enough,
    /// emote-only and the line is not only emotes, or slow mode and the viewer's wait is not
    /// over).
    pub async fn try_chat_as(&self, viewer: &Viewer, text: &str) -> Option<String> {
        if !self.api.delivers_line(viewer, text) {
            return None;
        }
        let new = self
            .chatted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(viewer.login.clone());
        if new {
            self.api.add_viewers(1);
        }
        Some(self.chat.chat(&self.channel, viewer, text).await)
    }

    /// A spam raid: `raid.accounts` new accounts each post `raid.lines` lines of `raid.text`,
    /// spread over `raid.over`, as Twitch would deliver them (Shield Mode and followers-only
    /// stop them). Returns how many lines were sent and delivered.
    pub async fn spam_raid(&self, raid: &SpamRaid) -> SpamRaidReport {
        let n = self
            .raids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let raiders: Vec<Viewer> = (0..raid.accounts)
            .map(|i| Viewer::new(&format!("spammer{n}_{i}")))
            .collect();
        let pause = raid.over / raid.lines.max(1);
        let mut report = SpamRaidReport::default();
        let mut reached = std::collections::BTreeSet::new();
        for line in 0..raid.lines {
            if line > 0 {
                tokio::time::sleep(pause).await;
            }
            let mut delivered = 0;
            for r in &raiders {
                report.sent += 1;
                if self.try_chat_as(r, &raid.text).await.is_some() {
                    delivered += 1;
                    reached.insert(r.id.clone());
                }
            }
            report.delivered += delivered;
            report.per_line.push(delivered);
        }
        report.reached = reached.into_iter().collect();
        report
    }

    /// Fires `event` from `viewer` over the simulated EventSub; returns the message id.
    pub async fn fire(&self, viewer: &Viewer, event: &SimEvent) -> String {
        self.fire_counted(viewer, event).await.0
    }

    /// [`SimTwitch::fire`], also returning how many EventSub sockets the notification reached
    /// (0 while the bot is reconnecting: Twitch does not redeliver those either).
    pub async fn fire_counted(&self, viewer: &Viewer, event: &SimEvent) -> (String, usize) {
        let kind = match event {
            SimEvent::Follow => "channel.follow",
            SimEvent::Subscribe { .. } => "channel.subscribe",
            SimEvent::Resub { .. } => "channel.subscription.message",
            SimEvent::Gift { .. } => "channel.subscription.gift",
            SimEvent::Cheer { .. } => "channel.cheer",
            SimEvent::Raid { .. } => "channel.raid",
            SimEvent::Redemption { .. } => "channel.channel_points_custom_reward_redemption.add",
            SimEvent::StreamOnline => "stream.online",
            SimEvent::StreamOffline => "stream.offline",
            SimEvent::Sample { kind } => kind.as_str(),
            SimEvent::Moderator { added } => {
                let reached = self
                    .api
                    .set_moderator_login(&viewer.login, &viewer.id, *added);
                return (String::new(), reached);
            }
            // Only chat shows an announcement: no EventSub channel type of its own.
            SimEvent::Announcement { .. } => {
                let id = self.api.state.eventsub.next_id("msg");
                if let Some(line) = self.usernotice(viewer, event) {
                    self.chat.send_to_channel(&self.channel, line).await;
                }
                return (id, 0);
            }
        };
        let mut payload = eventsub::sample_event(kind, &viewer.id, &viewer.login);
        let tier = |t: &u8| format!("{}000", (*t).clamp(1, 3));
        let set = |p: &mut Value, k: &str, v: Value| {
            if let Some(o) = p.as_object_mut() {
                o.insert(k.to_string(), v);
            }
        };
        set(&mut payload, "user_name", json!(viewer.display_name));
        match event {
            SimEvent::Subscribe { tier: t } => set(&mut payload, "tier", json!(tier(t))),
            SimEvent::Resub {
                tier: t,
                months,
                message,
            } => {
                set(&mut payload, "tier", json!(tier(t)));
                set(&mut payload, "cumulative_months", json!(months));
                set(
                    &mut payload,
                    "message",
                    json!({"text": message, "emotes": []}),
                );
            }
            SimEvent::Gift { tier: t, count } => {
                set(&mut payload, "tier", json!(tier(t)));
                set(&mut payload, "total", json!(count));
            }
            SimEvent::Cheer { bits, message } => {
                set(&mut payload, "bits", json!(bits));
                set(&mut payload, "message", json!(cheer_text(*bits, message)));
            }
            SimEvent::Redemption { title, cost, input } => {
                set(&mut payload, "user_input", json!(input));
                // A reward the channel has (one the bot created, say) is redeemed for real: its
                // redemption waits to be fulfilled or refunded.
                let (reward_id, redemption) = match self.api.redeem(title, &viewer.id) {
                    Some((reward, redemption)) => (reward, Some(redemption)),
                    None => (format!("reward-{}", viewer::stable_id(title)), None),
                };
                if let Some(id) = redemption {
                    set(&mut payload, "id", json!(id));
                    set(&mut payload, "status", json!("unfulfilled"));
                }
                set(
                    &mut payload,
                    "reward",
                    json!({"id": reward_id, "title": title, "cost": cost, "prompt": ""}),
                );
            }
            SimEvent::Raid { viewers } => {
                self.api.add_viewers(u64::from(*viewers));
                set(&mut payload, "viewers", json!(viewers));
                set(
                    &mut payload,
                    "from_broadcaster_user_name",
                    json!(viewer.display_name),
                );
            }
            SimEvent::StreamOnline => {
                // Each simulated stream has its own id, so each gets its own report.
                let n = self
                    .streams
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let id = format!("sim{secs}{n:02}");
                self.chatted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
                self.api.start_stream(&id, 3);
                set(&mut payload, "id", json!(id));
            }
            SimEvent::StreamOffline => self.api.set_live(None),
            SimEvent::Follow => self.api.add_follower(viewer, std::time::Duration::ZERO),
            _ => {}
        }
        let id = self.api.state.eventsub.next_id("msg");
        let reached = self.api.fire_with_id(kind, &id, payload).await;
        // Twitch's chat reports subs, gifts and raids too: a USERNOTICE on IRC, which the chat
        // mirror turns into `channel.chat.notification` for EventSub chat sessions.
        if let Some(line) = self.usernotice(viewer, event) {
            self.chat.send_to_channel(&self.channel, line).await;
        }
        // A cheer is a chat message too (IRC's `bits` tag, EventSub chat's `cheer` object);
        // the bot counts it once, from `channel.cheer`, while EventSub is connected.
        if let SimEvent::Cheer { bits, message } = event {
            self.chat
                .cheer(&self.channel, viewer, *bits, &cheer_text(*bits, message))
                .await;
        }
        (id, reached)
    }

    /// The USERNOTICE Twitch's chat shows for `event` from `viewer`, for the events chat
    /// announces (subs, resubs, gifts, raids).
    fn usernotice(&self, viewer: &Viewer, event: &SimEvent) -> Option<String> {
        use viewer::escape_tag;
        let name = &viewer.display_name;
        let plan = |t: &u8| format!("{}000", (*t).clamp(1, 3));
        let sub_params = |t: &u8| {
            vec![
                ("sub-plan", plan(t)),
                ("sub-plan-name", "Channel Subscription".to_string()),
            ]
        };
        let (msg_id, mut params, system, text) = match event {
            SimEvent::Subscribe { tier } => (
                "sub",
                sub_params(tier),
                format!("{name} subscribed at Tier {}.", (*tier).clamp(1, 3)),
                String::new(),
            ),
            SimEvent::Resub {
                tier,
                months,
                message,
            } => (
                "resub",
                sub_params(tier),
                format!(
                    "{name} subscribed at Tier {}. They've subscribed for {months} months!",
                    (*tier).clamp(1, 3)
                ),
                message.clone(),
            ),
            SimEvent::Gift { tier, count } => (
                "submysterygift",
                vec![
                    ("mass-gift-count", count.to_string()),
                    ("sub-plan", plan(tier)),
                ],
                format!(
                    "{name} is gifting {count} Tier {} Subs to {}'s community!",
                    (*tier).clamp(1, 3),
                    self.channel
                ),
                String::new(),
            ),
            SimEvent::Announcement { message, color } => (
                "announcement",
                vec![("color", announcement_color(color))],
                String::new(),
                message.clone(),
            ),
            SimEvent::Raid { viewers } => (
                "raid",
                vec![
                    ("displayName", name.clone()),
                    ("login", viewer.login.clone()),
                    ("viewerCount", viewers.to_string()),
                ],
                format!("{viewers} raiders from {name} have joined!"),
                String::new(),
            ),
            _ => return None,
        };
        if let SimEvent::Subscribe { .. } = event {
            params.push(("cumulative-months", "1".into()));
        }
        if let SimEvent::Resub { months, .. } = event {
            params.push(("cumulative-months", months.to_string()));
        }
        let (badges, badge_info) = viewer.badges();
        let sent_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let params: String = params
            .iter()
            .map(|(k, v)| format!("msg-param-{k}={};", escape_tag(v)))
            .collect();
        let trailing = if text.is_empty() {
            String::new()
        } else {
            format!(" :{}", text.replace(['\r', '\n'], " "))
        };
        Some(format!(
            "@badge-info={badge_info};badges={badges};color={color};display-name={display};emotes=;flags=;\
             id={id};login={login};mod=0;msg-id={msg_id};{params}room-id={room};subscriber=0;\
             system-msg={system};tmi-sent-ts={sent_ms};user-id={user_id};user-type= \
             :tmi.twitch.tv USERNOTICE #{channel}{trailing}",
            color = viewer.color,
            display = escape_tag(name),
            id = self.api.state.eventsub.next_id("notice"),
            login = viewer.login,
            room = chat::room_id(&self.channel),
            system = escape_tag(&system),
            user_id = viewer.id,
            channel = self.channel,
        ))
    }
}

/// The chat text of a cheer: the message with a `Cheer<bits>` cheermote in front, unless it
/// carries one already (the bits are spent through cheermotes in the text).
fn cheer_text(bits: u32, message: &str) -> String {
    let has_cheermote = message.split_whitespace().any(|w| {
        let lower = w.to_ascii_lowercase();
        lower
            .strip_prefix("cheer")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    match message.trim() {
        _ if has_cheermote => message.to_string(),
        "" => format!("Cheer{bits}"),
        text => format!("Cheer{bits} {text}"),
    }
}

/// An announcement colour as Twitch's USERNOTICE writes it (`msg-param-color`), `PRIMARY` for
/// anything it does not know.
fn announcement_color(color: &str) -> String {
    let upper = color.trim().to_ascii_uppercase();
    match upper.as_str() {
        "BLUE" | "GREEN" | "ORANGE" | "PURPLE" => upper,
        _ => "PRIMARY".to_string(),
    }
}
