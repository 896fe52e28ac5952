//! Discord: a go-live message when the stream starts, and messages from scripts
//! (`ctx.discord.send`) and the console (`POST /api/discord`).
//!
//! Messages go to named webhooks (`discord.webhooks` in secrets.yaml, the default) or, with a
//! bot token, to named channels (`discord.channels` in bot.yaml). twilight-http builds and
//! validates each request; `http::Transport` sends it to `discord.api_url` and reports 429s,
//! which the worker honours exactly. `allowed_mentions` is always sent: nobody is pinged, except
//! by the go-live message when `discord.go_live.mention` says so.
//!
//! Off (no task, no cost) until a webhook or a bot token is configured. Owns only its task and
//! its queue; never blocks the dispatcher ([`Integration::observe`] only queues).

mod http;
pub mod targets;

pub use targets::parse_webhook_url;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use twilight_http::request::{Request, TryIntoRequest};
use twilight_model::channel::message::AllowedMentions;

use self::http::{SendError, Transport};
use self::targets::{Target, Targets, clip, go_live_mentions, render};
use super::{Call, CallError, Integration, StartContext, Started};
use crate::action::DiscordCall;
use crate::event::{ChannelEventKind, ConnectionState, Event, Service};
use crate::subsystems::Subsystem;

/// Messages waiting at most; a script that posts faster gets "busy".
const QUEUE: usize = 100;
/// Tries for a message while Discord is unreachable or failing (2 s, 4 s, ... apart).
const MAX_TRANSIENT_TRIES: u32 = 6;
/// 429s in a row for one message before it is given up.
const MAX_RATE_LIMITED: u32 = 10;
/// How long shutdown waits for queued messages.
const DRAIN: Duration = Duration::from_secs(1);
/// How long the go-live message waits for the Twitch API's title and category.
const STREAM_INFO_WAIT: Duration = Duration::from_secs(5);
/// A stream that restarts (a dropped encoder, OBS restarted) within this long of the last
/// go-live post is not announced again: one post per sitting, not one per reconnect.
const GO_LIVE_COOLDOWN: Duration = Duration::from_secs(15 * 60);

enum Job {
    Send { target: String, text: String },
    GoLive { stream_id: String },
}

/// The running integration, as the hub sees it.
struct Discord {
    tx: mpsc::Sender<Job>,
    targets: Arc<Targets>,
    /// Title and category from the latest `channel.update`, the go-live fallback.
    latest: Arc<Mutex<Option<(String, String)>>>,
}

/// Stands in when Discord is configured but nothing usable is: calls say why.
struct Unusable {
    reason: String,
}

impl Integration for Discord {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Discord
    }

    fn call(&self, call: Call) -> Result<(), CallError> {
        let Call::Discord(DiscordCall::Send { target, text }) = call else {
            return Err(call.not_for(Subsystem::Discord));
        };
        let (name, _) = self.targets.resolve(&target).map_err(CallError::BadData)?;
        self.tx
            .try_send(Job::Send {
                target: name.to_string(),
                text,
            })
            .map_err(|_| CallError::Busy("Discord".into()))
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn observe(&self, event: &Arc<Event>) {
        let Event::Channel(ev) = event.as_ref() else {
            return;
        };
        match &ev.kind {
            ChannelEventKind::StreamOnline { stream_id }
                if self
                    .tx
                    .try_send(Job::GoLive {
                        stream_id: stream_id.to_string(),
                    })
                    .is_err() =>
            {
                warn!("Discord is busy: the go-live message is not posted");
            }
            ChannelEventKind::ChannelUpdate { title, category } => {
                *self.latest.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((title.clone(), category.clone()));
            }
            _ => {}
        }
    }
}

impl Integration for Unusable {
    fn subsystem(&self) -> Subsystem {
        Subsystem::Discord
    }

    fn call(&self, _call: Call) -> Result<(), CallError> {
        Err(CallError::Unavailable(format!("Discord ({})", self.reason)))
    }
}

/// Starts Discord if a webhook or a bot token is configured; `None` (one info line) otherwise.
pub fn start(ctx: &StartContext) -> Option<Started> {
    let config = &ctx.config;
    if !config.secrets.discord.configured() {
        info!(
            "Discord is off: configs/secrets.yaml has no webhook (discord.webhooks) and no bot \
             token (discord.bot_token)"
        );
        return None;
    }
    let (targets, problems) = Targets::from_config(config);
    for problem in &problems {
        warn!("{problem}");
    }
    let unusable = |reason: String| {
        warn!("Discord is off: {reason}");
        ctx.report(
            Service::Discord,
            ConnectionState::Down {
                reason: reason.clone(),
            },
        );
        Some(Started {
            integration: Arc::new(Unusable { reason }),
            task: None,
        })
    };
    if targets.by_name.is_empty() {
        return unusable("no usable webhook or channel (see the warnings before)".into());
    }
    let transport = match Transport::new(
        &config.bot.discord.api_url,
        &config.secrets.discord.bot_token,
    ) {
        Ok(t) => t,
        Err(e) => return unusable(format!("cannot build an HTTP client: {e}")),
    };
    // twilight-http builds its own TLS settings (unused here: we send) from the process-wide
    // provider; the app installs it first, this covers other callers.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = twilight_http::Client::builder()
        .ratelimiter(None)
        .default_allowed_mentions(AllowedMentions::default())
        .build();
    let targets = Arc::new(targets);
    let latest = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel(QUEUE);
    info!(
        targets = %targets.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
        "Discord: posting through {}", config.bot.discord.api_url
    );
    let worker = Worker {
        ctx: ctx.clone(),
        transport,
        client,
        targets: targets.clone(),
        latest: latest.clone(),
        paused: HashMap::new(),
        announced: None,
    };
    let task = tokio::spawn(worker.run(rx));
    Some(Started {
        integration: Arc::new(Discord {
            tx,
            targets,
            latest,
        }),
        task: Some(task),
    })
}

/// What became of one message.
enum Outcome {
    Sent,
    Failed,
    /// The bot is shutting down while it waited.
    Stopped,
}

/// The task that talks to Discord, one message at a time (in order).
struct Worker {
    ctx: StartContext,
    transport: Transport,
    client: twilight_http::Client,
    targets: Arc<Targets>,
    latest: Arc<Mutex<Option<(String, String)>>>,
    /// Targets Discord asked to rest (`X-RateLimit-Remaining: 0`), until when.
    paused: HashMap<String, Instant>,
    /// The stream last announced and when: a redelivered or restarted stream is not posted twice.
    announced: Option<(String, Instant)>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let shutdown = self.ctx.shutdown.clone();
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.check() => {}
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                job = rx.recv() => match job {
                    Some(job) => self.handle(job).await,
                    None => return,
                },
            }
        }
        // Post what scripts already queued, without waiting out rate limits.
        let deadline = Instant::now() + DRAIN;
        let mut lost = 0;
        while let Ok(job) = rx.try_recv() {
            if tokio::time::timeout_at(deadline, self.handle(job))
                .await
                .is_err()
            {
                lost += 1;
            }
        }
        lost += rx.len();
        if lost > 0 {
            warn!("Discord: {lost} messages were not posted before shutdown");
        }
    }

    /// Asks Discord once whether each webhook (and the bot token) is valid, for the health
    /// panel and an early, clear error.
    async fn check(&mut self) {
        let mut problems = Vec::new();
        let mut checks: Vec<(String, Target, Result<Request, twilight_http::Error>)> = Vec::new();
        let mut bot_checked = false;
        for (name, target) in self.targets.by_name.iter() {
            let request = match target {
                Target::Webhook { id, token } => {
                    self.client.webhook(*id).token(token).try_into_request()
                }
                Target::Channel { .. } if !bot_checked => {
                    bot_checked = true;
                    self.client.current_user().try_into_request()
                }
                Target::Channel { .. } => continue,
            };
            checks.push((name.clone(), target.clone(), request));
        }
        for (name, target, request) in checks {
            let Ok(request) = request else { continue };
            match self.transport.send(&request).await {
                Ok(_) | Err(SendError::RateLimited(_)) => {}
                Err(SendError::Refused { status, message }) => {
                    let advice = advice(status, &name, &target);
                    error!("Discord: `{name}` does not work ({status}: {message}): {advice}");
                    problems.push(format!("`{name}`: {status} {message}: {advice}"));
                }
                Err(SendError::Transient(e)) => {
                    warn!(
                        "Discord: cannot check `{name}` now ({e}); messages are tried when they \
                         come"
                    );
                    problems.push(e);
                    break;
                }
            }
        }
        if problems.is_empty() {
            self.ctx
                .report(Service::Discord, ConnectionState::Connected);
        } else {
            self.ctx.report(
                Service::Discord,
                ConnectionState::Down {
                    reason: problems.join("; "),
                },
            );
        }
    }

    async fn handle(&mut self, job: Job) {
        match job {
            Job::Send { target, text } => {
                let Ok((name, target)) = self
                    .targets
                    .resolve(&target)
                    .map(|(n, t)| (n.to_string(), t.clone()))
                else {
                    return;
                };
                // Script and console messages ping nobody, whatever they contain.
                self.deliver(&name, &target, &clip(&text), &AllowedMentions::default())
                    .await;
            }
            Job::GoLive { stream_id } => self.go_live(stream_id).await,
        }
    }

    async fn go_live(&mut self, stream_id: String) {
        let go_live = self.ctx.config.bot.discord.go_live.clone();
        if !go_live.enabled {
            return;
        }
        if let Some((last, at)) = &self.announced {
            if *last == stream_id && !stream_id.is_empty() {
                debug!("Discord: stream {stream_id} was announced already");
                return;
            }
            if at.elapsed() < GO_LIVE_COOLDOWN {
                info!(
                    "Discord: the stream restarted {} min after the last go-live post; not \
                     posted again (one post per {} min)",
                    at.elapsed().as_secs() / 60,
                    GO_LIVE_COOLDOWN.as_secs() / 60
                );
                return;
            }
        }
        let Some((name, target)) = self
            .targets
            .go_live
            .as_deref()
            .and_then(|n| self.targets.resolve(n).ok())
            .map(|(n, t)| (n.to_string(), t.clone()))
        else {
            return;
        };
        let (title, game) = self.stream_info().await;
        let channel = self.ctx.channel.clone();
        let url = format!("https://twitch.tv/{channel}");
        let text = render(
            &go_live.message,
            &[
                ("channel", &channel),
                ("title", &title),
                ("game", &game),
                ("url", &url),
            ],
        );
        let (allowed, mentions) = go_live_mentions(&go_live.mention);
        // Discord pings only what the text mentions: put configured mentions in front.
        let missing: Vec<&str> = mentions
            .iter()
            .map(String::as_str)
            .filter(|m| !text.contains(m))
            .collect();
        let text = if missing.is_empty() {
            text
        } else {
            format!("{} {text}", missing.join(" "))
        };
        if let Outcome::Sent = self.deliver(&name, &target, &clip(&text), &allowed).await {
            info!("Discord: go-live message posted to `{name}`");
            self.announced = Some((stream_id, Instant::now()));
        }
    }

    /// The stream's title and category: from the Twitch API (channel information, else the
    /// live stream), else from the latest `channel.update`.
    async fn stream_info(&self) -> (String, String) {
        if let Some(helix) = &self.ctx.helix {
            let id = helix.ids().broadcaster_id;
            if !id.is_empty() {
                let url = format!("{}/channels", helix.base());
                let query = [("broadcaster_id", id.clone())];
                let channel = helix.request_url(
                    crate::twitch::auth::Account::Bot,
                    reqwest::Method::GET,
                    &url,
                    &query,
                    None,
                );
                if let Ok(Ok(v)) = tokio::time::timeout(STREAM_INFO_WAIT, channel).await {
                    let c = &v["data"][0];
                    let title = c["title"].as_str().unwrap_or_default();
                    if !title.is_empty() {
                        let game = c["game_name"].as_str().unwrap_or_default();
                        return (title.to_string(), game.to_string());
                    }
                }
                if let Ok(Ok(Some(s))) =
                    tokio::time::timeout(STREAM_INFO_WAIT, helix.stream(&id)).await
                {
                    return (s.title, s.game_name);
                }
            }
        }
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    /// Posts `content` to `target`, honouring 429s and retrying while Discord is unreachable.
    async fn deliver(
        &mut self,
        name: &str,
        target: &Target,
        content: &str,
        allowed: &AllowedMentions,
    ) -> Outcome {
        let mut transient = 0u32;
        let mut limited = 0u32;
        loop {
            if let Some(until) = self.paused.get(name).copied()
                && !self.sleep_until(until).await
            {
                return self.stopped(name);
            }
            let request = match target {
                Target::Webhook { id, token } => self
                    .client
                    .execute_webhook(*id, token)
                    .content(content)
                    .allowed_mentions(Some(allowed))
                    .try_into_request(),
                Target::Channel { id } => self
                    .client
                    .create_message(*id)
                    .content(content)
                    .allowed_mentions(Some(allowed))
                    .try_into_request(),
            };
            let request = match request {
                Ok(r) => r,
                Err(e) => {
                    error!("Discord: the message to `{name}` is not valid: {e}");
                    return Outcome::Failed;
                }
            };
            let wait = match self.transport.send(&request).await {
                Ok(rest) => {
                    match rest {
                        Some(rest) => self.paused.insert(name.to_string(), Instant::now() + rest),
                        None => self.paused.remove(name),
                    };
                    self.ctx
                        .report(Service::Discord, ConnectionState::Connected);
                    return Outcome::Sent;
                }
                Err(SendError::RateLimited(wait)) => {
                    limited += 1;
                    if limited > MAX_RATE_LIMITED {
                        return self.failed(
                            name,
                            format!("still rate limited after {MAX_RATE_LIMITED} waits"),
                        );
                    }
                    warn!(
                        "Discord: rate limited posting to `{name}`; trying again in {:.1} s, as \
                         Discord asked",
                        wait.as_secs_f64()
                    );
                    self.retrying("rate limited by Discord (429)", wait);
                    wait
                }
                Err(SendError::Transient(e)) => {
                    transient += 1;
                    if transient >= MAX_TRANSIENT_TRIES {
                        return self.failed(name, format!("{e} ({transient} tries)"));
                    }
                    let wait = Duration::from_secs(2u64 << (transient - 1).min(5));
                    warn!("Discord: posting to `{name}` failed ({e}); trying again in {wait:?}");
                    self.retrying(&e, wait);
                    wait
                }
                Err(SendError::Refused { status, message }) => {
                    let advice = advice(status, name, target);
                    return self.failed(name, format!("{status}: {message}: {advice}"));
                }
            };
            if !self.sleep_until(Instant::now() + wait).await {
                return self.stopped(name);
            }
        }
    }

    fn retrying(&self, reason: &str, wait: Duration) {
        self.ctx.report(
            Service::Discord,
            ConnectionState::Reconnecting {
                reason: reason.to_string(),
                retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            },
        );
    }

    fn failed(&self, name: &str, reason: String) -> Outcome {
        error!("Discord: the message to `{name}` was not posted: {reason}");
        self.ctx.report(
            Service::Discord,
            ConnectionState::Down {
                reason: format!("`{name}`: {reason}"),
            },
        );
        Outcome::Failed
    }

    fn stopped(&self, name: &str) -> Outcome {
        warn!("Discord: a message to `{name}` was not posted: the bot is shutting down");
        Outcome::Stopped
    }

    /// Sleeps until `until`; `false` if the bot shuts down first.
    async fn sleep_until(&self, until: Instant) -> bool {
        tokio::select! {
            _ = self.ctx.shutdown.cancelled() => false,
            _ = tokio::time::sleep_until(until) => true,
        }
    }
}

/// What the user can do about a refusal.
fn advice(status: u16, name: &str, target: &Target) -> String {
    let setting = target.setting(name);
    match (status, target) {
        (401 | 404, Target::Webhook { .. }) => format!(
            "the webhook was deleted or its URL is wrong: copy its URL again into {setting}"
        ),
        (401, Target::Channel { .. }) => "the bot token was refused: check discord.bot_token in \
             configs/secrets.yaml (Developer Portal → Bot → Reset Token)"
            .into(),
        (403, Target::Channel { .. }) => format!(
            "the bot may not post there: invite it to the server and give it View Channel and \
             Send Messages in the channel of {setting}; a new bot must also have connected to \
             Discord's Gateway once"
        ),
        (404, Target::Channel { .. }) => {
            format!("no such channel, or the bot is not in its server: check {setting}")
        }
        (400, _) => "Discord did not accept the message as sent".into(),
        _ => format!("check {setting}"),
    }
}
