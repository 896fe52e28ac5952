//! The broadcaster's tools end to end: the shipped example scripts (`!title`, `!game`,
//! `!marker`, `!clip`, `!poll`, `!predict`, `!schedule`) and `ctx.twitch` calls run in the real
//! script host, through the real Helix client, against the strict simulated Twitch, which
//! refuses what Twitch refuses (limits, offline markers and clips, missing scopes).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::binary::{BotCommand, Running};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use twitch_bot::action::Action;
use twitch_bot::app::broadcaster::{ClipWatch, OwnedRewards, sync_rewards};
use twitch_bot::app::services::HelixForScripts;
use twitch_bot::config::Secrets;
use twitch_bot::event::{ChannelEvent, ChannelEventKind, ChatMessage, Chatter, Event, EventSource};
use twitch_bot::queue::{self, EventReceiver};
use twitch_bot::scripting::loader::NOT_REFUNDABLE;
use twitch_bot::scripting::stores::{MemoryCache, MemoryStore};
use twitch_bot::scripting::{HostConfig, Outcome, ScriptHost, Services, check_dir, roles_of};
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::subsystems::Subsystems;
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::broadcaster::PredictionEnd;
use twitch_bot::twitch::eventsub::{self, EventSubConfig, EventSubSettings, MemoryDedup};
use twitch_bot::twitch::helix::{ChannelIds, Helix, HelixError, RetryPolicy};

/// Every call a test may want, by its first word: `!t poll <title> <a,b,c> <secs>`, ...
const TOOLS: &str = r#"
fn run(ctx) {
    let a = ctx.args;
    try {
        let r = switch a[0] {
            "title" => ctx.twitch.set_title(a.extract(1).join(" ")),
            "marker" => ctx.twitch.create_marker(a.extract(1).join(" ")),
            "poll" => ctx.twitch.create_poll(a[1], a[2].split(","), parse_int(a[3])),
            "predict" => ctx.twitch.create_prediction(a[1], a[2].split(","), parse_int(a[3])),
            "schedule" => ctx.twitch.schedule(parse_int(a[1])),
            "counts" => `${ctx.twitch.followers_count()} followers, ${ctx.twitch.subscribers_count()} subs`,
            "chatters" => ctx.twitch.chatters(),
            "whisper" => ctx.twitch.whisper(a[1], a.extract(2).join(" ")),
            "raid" => ctx.twitch.raid(a[1]),
            "unraid" => ctx.twitch.cancel_raid(),
            _ => throw "unknown tool",
        };
        ctx.reply(`ok ${r}`);
    } catch (err) {
        ctx.reply(`err ${err}`);
    }
}
"#;

fn example(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A script with its cooldowns taken out, so one test can use a command many times.
fn without_cooldowns(src: &str) -> String {
    src.lines()
        .filter(|l| !l.starts_with("const COOLDOWN") && !l.starts_with("const USER_COOLDOWN"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Bot {
    api: FakeTwitchApi,
    helix: Helix,
    rewards: OwnedRewards,
    host: Arc<ScriptHost>,
    rx: mpsc::Receiver<Action>,
    dir: tempfile::TempDir,
    next_id: u32,
}

/// The bot with the shipped broadcaster examples and `commands/t.rhai`; the broadcaster's
/// grant holds `broadcaster_scopes` (`None`: every scope the bot asks for).
async fn bot(broadcaster_scopes: Option<&[&str]>, clips: ClipWatch) -> Bot {
    bot_with(broadcaster_scopes, clips, &[]).await
}

/// [`bot`] with more script files.
async fn bot_with(
    broadcaster_scopes: Option<&[&str]>,
    clips: ClipWatch,
    extra: &[(&str, &str)],
) -> Bot {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let (bot_access, bot_refresh) = api.issue_tokens(BOT_ID);
    let (b_access, b_refresh) = match broadcaster_scopes {
        Some(scopes) => api.issue_tokens_with_scopes(BROADCASTER_ID, scopes),
        None => api.issue_tokens(BROADCASTER_ID),
    };
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    secrets.bot.scopes = api.scopes_of(&bot_access);
    secrets.bot.access_token = bot_access;
    secrets.bot.refresh_token = bot_refresh;
    secrets.broadcaster.scopes = api.scopes_of(&b_access);
    secrets.broadcaster.access_token = b_access;
    secrets.broadcaster.refresh_token = b_refresh;
    let http = reqwest::Client::new();
    let auth = AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None);
    let tokens = Tokens::new(auth, secrets, None);
    let retry = RetryPolicy {
        backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let helix = Helix::new(http, &api.helix_url(), tokens, retry);
    helix.set_ids(ChannelIds {
        broadcaster_id: BROADCASTER_ID.into(),
        bot_id: BOT_ID.into(),
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<(String, String)> = [
        "commands/title.rhai",
        "commands/game.rhai",
        "commands/marker.rhai",
        "commands/clip.rhai",
        "commands/schedule.rhai",
        "commands/poll.rhai",
        "commands/predict.rhai",
        "events/clip_ready.rhai",
    ]
    .iter()
    .map(|rel| ((*rel).to_string(), without_cooldowns(&example(rel))))
    .collect();
    files.push(("commands/t.rhai".into(), TOOLS.into()));
    files.extend(
        extra
            .iter()
            .map(|(r, src)| ((*r).to_string(), (*src).to_string())),
    );
    for (rel, src) in &files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, src).expect("write");
    }
    let store = Arc::new(MemoryStore::new());
    let rewards = OwnedRewards::default();
    let services = Services {
        points: store.clone(),
        users: store.clone(),
        store,
        cache: Arc::new(MemoryCache::new()),
        twitch: Some(Arc::new(HelixForScripts {
            helix: helix.clone(),
            runtime: tokio::runtime::Handle::current(),
            clips: clips.clone(),
            rewards: rewards.clone(),
        })),
        integrations: Subsystems::NONE,
        http: None,
        currency: "points".into(),
    };
    let mut config = HostConfig::new(dir.path(), "mychannel");
    config.workers = 1;
    let (tx, rx) = mpsc::channel(64);
    let (host, report) = ScriptHost::start(config, services, Arc::new(tx));
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    clips.attach(&host);
    Bot {
        api,
        helix,
        rewards,
        host,
        rx,
        dir,
        next_id: 0,
    }
}

fn chatter(login: &str, roles: &[&str]) -> Chatter {
    Chatter::test(login).roles(roles_of(roles))
}

impl Bot {
    /// `text` in chat from `login` with `roles`; returns the next thing the bot says.
    async fn ask_as(&mut self, login: &str, roles: &[&str], text: &str) -> String {
        self.next_id += 1;
        let msg = ChatMessage::test(login, text)
            .id(format!("m{}", self.next_id))
            .in_channel("mychannel", BROADCASTER_ID)
            .sender(chatter(login, roles));
        assert!(
            matches!(self.host.handle_chat(&msg), Outcome::Queued(_)),
            "`{text}` was not run"
        );
        self.next(Duration::from_secs(10)).await
    }

    /// A moderator's command.
    async fn ask(&mut self, text: &str) -> String {
        self.ask_as("alice", &["moderator"], text).await
    }

    async fn next(&mut self, within: Duration) -> String {
        match tokio::time::timeout(within, self.rx.recv()).await {
            Ok(Some(Action::Reply { text, .. } | Action::Say { text, .. })) => text,
            Ok(other) => panic!("expected a chat line, got {other:?}"),
            Err(_) => {
                let errors: Vec<String> = self
                    .host
                    .scripts()
                    .iter()
                    .filter_map(|s| s.last_error.as_ref().map(ToString::to_string))
                    .collect();
                panic!("nothing said within {within:?}; script errors: {errors:#?}")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn title_and_category_are_set_on_twitch_by_moderators_only() {
    let mut b = bot(None, ClipWatch::default()).await;
    b.api.set_live(Some(10));
    assert_eq!(
        b.ask("!title Speedrun tonight").await,
        "Title set to: Speedrun tonight"
    );
    assert_eq!(b.api.channel().title, "Speedrun tonight");
    assert_eq!(b.ask("!title").await, "Title: Speedrun tonight");
    assert_eq!(
        b.ask_as("bob", &[], "!title mine now").await,
        "Only moderators can change the title."
    );
    assert_eq!(b.api.channel().title, "Speedrun tonight");

    assert_eq!(b.ask("!game minecraft").await, "Category set to Minecraft.");
    assert_eq!(
        b.api.channel().game_id,
        "27471",
        "the exact name, not Dungeons"
    );
    assert_eq!(b.ask("!game").await, "Playing: Minecraft");
    let none = b.ask("!game Nosuchgame Deluxe").await;
    assert!(
        none.contains("Twitch knows no category called `Nosuchgame Deluxe`"),
        "{none}"
    );
    assert_eq!(b.api.channel().game_id, "27471");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_over_twitchs_limit_is_refused_with_the_limit() {
    let mut b = bot(None, ClipWatch::default()).await;
    let long = "x".repeat(141);
    let answer = b.ask(&format!("!t title {long}")).await;
    assert!(answer.starts_with("err "), "{answer}");
    assert!(answer.contains("at most 140 characters"), "{answer}");
    let ok = b.ask(&format!("!t title {}", "y".repeat(140))).await;
    assert_eq!(ok, "ok");
    assert_eq!(b.api.channel().title.chars().count(), 140);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_need_a_live_stream_and_a_short_description() {
    let mut b = bot(None, ClipWatch::default()).await;
    let offline = b.ask("!marker boss fight").await;
    assert!(offline.contains("not streaming live"), "{offline}");
    assert!(b.api.channel().markers.is_empty());

    b.api.start_stream("s1", 5);
    let set = b.ask("!marker boss fight").await;
    assert!(set.starts_with("Marker set at "), "{set}");
    assert_eq!(b.api.channel().markers.len(), 1);
    assert_eq!(b.api.channel().markers[0].1, "boss fight");

    let long = b.ask(&format!("!t marker {}", "m".repeat(141))).await;
    assert!(long.contains("at most 140 characters"), "{long}");
    assert_eq!(b.api.channel().markers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_is_announced_when_twitch_has_made_it() {
    let mut b = bot(
        None,
        ClipWatch::new(Duration::from_secs(15), Duration::from_millis(100)),
    )
    .await;
    let offline = b.ask_as("bob", &[], "!clip").await;
    assert!(offline.contains("must be broadcasting live"), "{offline}");

    b.api.set_live(Some(3));
    b.api.channel().clip_delay = Duration::from_millis(700);
    assert_eq!(
        b.ask_as("carol", &[], "!clip").await,
        "Clipping… the link follows in a few seconds."
    );
    let id = b.api.channel().clips[0].id.clone();
    let ready = b.next(Duration::from_secs(5)).await;
    assert_eq!(
        ready,
        format!("New clip (clipped by carol): https://clips.twitch.tv/{id}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_twitch_never_makes_is_reported_failed() {
    let mut b = bot(
        None,
        ClipWatch::new(Duration::from_secs(1), Duration::from_millis(100)),
    )
    .await;
    b.api.set_live(Some(3));
    b.api.channel().clips_fail = true;
    let started = b.ask_as("carol", &[], "!clip").await;
    assert!(started.starts_with("Clipping"), "{started}");
    let failed = b.next(Duration::from_secs(5)).await;
    assert_eq!(
        failed,
        "The clip did not work out (clipped by carol): Twitch did not make the clip within 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_runs_on_twitch_and_ends_with_its_winner() {
    let mut b = bot(None, ClipWatch::default()).await;
    assert_eq!(
        b.ask("!poll Best snack? | chips | fruit").await,
        "Poll started: Best snack? — vote for chips, fruit!"
    );
    {
        let ch = b.api.channel();
        assert_eq!(ch.polls.len(), 1);
        assert_eq!(ch.polls[0].title, "Best snack?");
        let choices: Vec<&str> = ch.polls[0].choices.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(choices, ["chips", "fruit"]);
        assert_eq!(ch.polls[0].duration, 60);
    }
    assert_eq!(b.ask("!poll").await, "Best snack? — chips: 0, fruit: 0");
    let second = b.ask("!poll Another? | a | b").await;
    assert!(second.contains("already has a poll"), "{second}");

    b.api.channel().polls[0].choices[1].2 = 3;
    assert_eq!(
        b.ask("!poll end").await,
        "Poll \"Best snack?\" ended: fruit wins (3 votes)."
    );
    assert_eq!(b.api.channel().polls[0].status, "TERMINATED");
    assert_eq!(b.ask("!poll").await, "No poll is running.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_limits_are_twitchs() {
    let mut b = bot(None, ClipWatch::default()).await;
    let six = b.ask("!poll Pick? | a | b | c | d | e | f").await;
    assert!(six.contains("from 2 through 5 items, not 6"), "{six}");
    let title = b.ask(&format!("!t poll {} a,b 60", "q".repeat(61))).await;
    assert!(title.contains("1 through 60 characters"), "{title}");
    let short = b.ask("!t poll Quick? a,b 14").await;
    assert!(short.contains("from 15 through 1800 seconds"), "{short}");
    let long = b.ask("!t poll Slow? a,b 1801").await;
    assert!(long.contains("from 15 through 1800 seconds"), "{long}");
    let choice = b
        .ask(&format!("!t poll Long? a,{} 60", "c".repeat(26)))
        .await;
    assert!(choice.contains("1 through 25 characters"), "{choice}");
    assert!(b.api.channel().polls.is_empty(), "nothing refused was made");
    let edge = b
        .ask(&format!("!t poll {} a,b,c,d,e 1800", "q".repeat(60)))
        .await;
    assert!(edge.starts_with("ok "), "{edge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prediction_opens_locks_and_pays_out() {
    let mut b = bot(None, ClipWatch::default()).await;
    assert_eq!(
        b.ask("!predict Win the round? | yes | no").await,
        "Prediction open: Win the round? — yes or no?"
    );
    assert_eq!(b.api.channel().predictions[0].window, 120);
    assert_eq!(b.ask("!predict lock").await, "Predictions are locked!");
    assert_eq!(b.api.channel().predictions[0].status, "LOCKED");
    let unknown = b.ask("!predict win maybe").await;
    assert!(
        unknown.contains("no outcome `maybe`; its outcomes are yes, no"),
        "{unknown}"
    );
    assert_eq!(
        b.ask("!predict win YES").await,
        "\"yes\" wins the prediction \"Win the round?\"!"
    );
    let ch = b.api.channel();
    assert_eq!(ch.predictions[0].status, "RESOLVED");
    let yes = ch.predictions[0].outcomes[0].0.clone();
    assert_eq!(ch.predictions[0].winning_outcome_id, Some(yes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prediction_limits_are_twitchs_and_a_cancel_refunds() {
    let mut b = bot(None, ClipWatch::default()).await;
    let many: Vec<String> = (0..11).map(|i| format!("o{i}")).collect();
    let eleven = b
        .ask(&format!("!t predict Which? {} 60", many.join(",")))
        .await;
    assert!(
        eleven.contains("from 2 through 10 items, not 11"),
        "{eleven}"
    );
    let short = b.ask("!t predict Which? a,b 29").await;
    assert!(short.contains("from 30 through 1800 seconds"), "{short}");
    let title = b
        .ask(&format!("!t predict {} a,b 60", "p".repeat(46)))
        .await;
    assert!(title.contains("1 through 45 characters"), "{title}");
    assert!(b.api.channel().predictions.is_empty());
    let ten = b
        .ask(&format!("!t predict Which? {} 1800", many[..10].join(",")))
        .await;
    assert!(ten.starts_with("ok "), "{ten}");
    assert_eq!(
        b.ask("!predict cancel").await,
        "Prediction cancelled: everyone got their points back."
    );
    assert_eq!(b.api.channel().predictions[0].status, "CANCELED");
    assert_eq!(b.ask("!predict").await, "No prediction is open.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_counts_chatters_whispers_and_raids() {
    let mut b = bot(None, ClipWatch::default()).await;
    assert_eq!(b.ask("!schedule").await, "No streams are scheduled.");
    b.api.channel().schedule = vec![
        (
            "Cozy farming".into(),
            "2027-01-02T18:00:00Z".into(),
            "Minecraft".into(),
        ),
        (
            "Art stream".into(),
            "2027-01-03T18:00:00Z".into(),
            String::new(),
        ),
    ];
    assert_eq!(
        b.ask("!schedule").await,
        "Next: 2027-01-02 18:00 UTC: Cozy farming (Minecraft) | 2027-01-03 18:00 UTC: Art stream"
    );
    let zero = b.ask("!t schedule 26").await;
    assert!(zero.contains("1 to 25"), "{zero}");

    b.api.channel().subscribers = 7;
    b.api.add_follower(
        &twitch_bot::sim::Viewer::new("fan"),
        Duration::from_secs(60),
    );
    assert_eq!(b.ask("!t counts").await, "ok 1 followers, 7 subs");
    assert_eq!(b.ask("!t chatters").await, "ok [\"viewer_one\"]");

    assert_eq!(b.ask("!t whisper viewer_one see you soon").await, "ok");
    assert_eq!(
        b.api.channel().whispers,
        vec![(
            BOT_ID.to_string(),
            "3000".to_string(),
            "see you soon".to_string()
        )]
    );
    let long = b
        .ask(&format!("!t whisper viewer_one {}", "w".repeat(501)))
        .await;
    assert!(long.contains("at most 500 characters"), "{long}");
    let nobody = b.ask("!t whisper nobody_here hi").await;
    assert!(
        nobody.contains("Twitch knows no user `nobody_here`"),
        "{nobody}"
    );

    assert_eq!(b.ask("!t raid viewer_one").await, "ok");
    assert_eq!(b.api.channel().raid.as_deref(), Some("3000"));
    let twice = b.ask("!t raid viewer_one").await;
    assert!(
        twice.contains("already in the process of raiding"),
        "{twice}"
    );
    assert_eq!(b.ask("!t unraid").await, "ok");
    let none = b.ask("!t unraid").await;
    assert!(none.contains("pending raid"), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_is_named_with_the_way_to_grant_it() {
    // The broadcaster signed in before polls were asked for.
    let mut b = bot(Some(&["channel:manage:broadcast"]), ClipWatch::default()).await;
    let refused = b.ask("!poll Best snack? | chips | fruit").await;
    assert!(refused.contains("`channel:manage:polls`"), "{refused}");
    assert!(refused.contains("run `twitch-bot auth` again"), "{refused}");
    assert!(
        b.api.requests().iter().all(|r| r.path != "/polls"),
        "refused before Twitch is asked"
    );
    // The title needs only what the grant holds.
    assert_eq!(
        b.ask("!title Still works").await,
        "Title set to: Still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twitchs_own_missing_scope_answer_is_named_too() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let (access, refresh) = api.issue_tokens_with_scopes(BROADCASTER_ID, &["clips:edit"]);
    let (bot_access, bot_refresh) = api.issue_tokens(BOT_ID);
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    // A grant saved without its scope list: the bot cannot know; Twitch says.
    secrets.broadcaster.access_token = access;
    secrets.broadcaster.refresh_token = refresh;
    secrets.bot.access_token = bot_access;
    secrets.bot.refresh_token = bot_refresh;
    let http = reqwest::Client::new();
    let auth = AuthClient::new(http.clone(), &api.auth_url(), "fakeclient", None);
    let helix = Helix::new(
        http,
        &api.helix_url(),
        Tokens::new(auth, secrets, None),
        RetryPolicy::default(),
    );
    helix.set_ids(ChannelIds {
        broadcaster_id: BROADCASTER_ID.into(),
        bot_id: BOT_ID.into(),
    });
    let err = helix
        .create_prediction("Win?", &["yes".into(), "no".into()], 60)
        .await
        .expect_err("no scope");
    assert!(
        matches!(&err, HelixError::MissingScope { scope, .. } if scope == "channel:manage:predictions"),
        "{err:?}"
    );
    assert!(err.to_string().contains("twitch-bot auth"), "{err}");
    assert_eq!(api.refresh_calls(), 0, "no refresh can add a scope");
}

const HUG: &str = r#"
const CHANNEL_POINTS_TITLE = "Hug the streamer";
const CHANNEL_POINTS_COST = 500;
const CHANNEL_POINTS_PROMPT = "Say why";
const CHANNEL_POINTS_INPUT = true;
const CHANNEL_POINTS_COOLDOWN = 60;

fn run(ctx) {
    if ctx.message == "" { throw "a hug needs a reason"; }
    ctx.say(`${ctx.user.name} hugs the streamer: ${ctx.message}`);
}
"#;

const LUCKY: &str = r#"
const CHANNEL_POINTS_TITLE = "Lucky draw";
const CHANNEL_POINTS_COST = 100;

fn run(ctx) {
    ctx.redemption.refund();
    ctx.say(`no luck, ${ctx.user.name}: points back`);
}
"#;

const MANUAL: &str = r#"
const CHANNEL_POINTS_TITLE = "Play a tune";

fn run(ctx) {
    try {
        ctx.redemption.refund();
        ctx.say("refunded");
    } catch (err) {
        ctx.say(`${err}`);
    }
}
"#;

impl Bot {
    /// A viewer redeems the reward `title` on Twitch; the bot hears of it. Returns the
    /// redemption's id.
    fn redeem(&self, title: &str, input: &str) -> String {
        let (reward_id, redemption_id) = self
            .api
            .redeem(title, "3000")
            .unwrap_or_else(|| panic!("no reward `{title}` on Twitch"));
        let ev = ChannelEvent {
            id: format!("ev-{redemption_id}").into(),
            source: EventSource::Simulated,
            user: Some(chatter("viewer_one", &[])),
            kind: ChannelEventKind::Redemption {
                reward_id: reward_id.into(),
                reward_title: title.into(),
                cost: 1,
                user_input: input.into(),
                redemption_id: redemption_id.clone().into(),
            },
        };
        let out = self.host.handle_channel_event(&ev);
        assert!(
            matches!(out.first(), Some(Outcome::Queued(_))),
            "{title}: {out:?}"
        );
        redemption_id
    }

    async fn status_becomes(&self, redemption: &str, want: &str) {
        for _ in 0..100 {
            if self.api.redemption_status(redemption).as_deref() == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "redemption {redemption} is {:?}, not {want}",
            self.api.redemption_status(redemption)
        );
    }

    fn redemption_patches(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| {
                r.method == "PATCH" && r.path == "/channel_points/custom_rewards/redemptions"
            })
            .count()
    }

    fn reward_writes(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && r.path == "/channel_points/custom_rewards")
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_reward_is_created_fulfilled_and_refunded_when_its_script_fails() {
    let mut b = bot_with(None, ClipWatch::default(), &[("rewards/hug.rhai", HUG)]).await;
    let failed = sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    assert!(failed.is_empty(), "{failed:?}");
    {
        let ch = b.api.channel();
        assert_eq!(ch.rewards.len(), 1);
        let r = &ch.rewards[0];
        assert_eq!(
            (
                r.title.as_str(),
                r.cost,
                r.prompt.as_str(),
                r.input_required
            ),
            ("Hug the streamer", 500, "Say why", true)
        );
        assert_eq!(r.cooldown, Some(60));
        assert!(
            !r.skip_queue,
            "redemptions wait in the queue so they can be refunded"
        );
        assert_eq!(r.client, "fakeclient");
    }
    // Nothing changed: nothing is written again.
    let writes = b.reward_writes();
    sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    assert_eq!(b.reward_writes(), writes);

    let ok = b.redeem("Hug the streamer", "you're great");
    assert_eq!(
        b.next(Duration::from_secs(5)).await,
        "VIEWER_ONE hugs the streamer: you're great"
    );
    b.status_becomes(&ok, "FULFILLED").await;

    let failed = b.redeem("Hug the streamer", "");
    b.status_becomes(&failed, "CANCELED").await;
    assert_eq!(b.redemption_patches(), 2, "one each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_declaration_updates_the_same_reward() {
    let b = bot_with(None, ClipWatch::default(), &[("rewards/hug.rhai", HUG)]).await;
    sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    let id = b.api.channel().rewards[0].id.clone();
    std::fs::write(
        b.dir.path().join("rewards/hug.rhai"),
        HUG.replace("= 500", "= 800"),
    )
    .expect("write");
    let report = b.host.reload_all();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    let ch = b.api.channel();
    assert_eq!(ch.rewards.len(), 1, "updated, not made twice");
    assert_eq!(
        (ch.rewards[0].id.as_str(), ch.rewards[0].cost),
        (id.as_str(), 800)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_refunds_itself_is_refunded_once() {
    let mut b = bot_with(None, ClipWatch::default(), &[("rewards/lucky.rhai", LUCKY)]).await;
    sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    let r = b.redeem("Lucky draw", "");
    assert_eq!(
        b.next(Duration::from_secs(5)).await,
        "no luck, VIEWER_ONE: points back"
    );
    b.status_becomes(&r, "CANCELED").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.redemption_patches(), 1, "the bot did not settle it again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reward_made_on_twitch_runs_but_cannot_be_refunded() {
    let mut b = bot_with(None, ClipWatch::default(), &[("rewards/tune.rhai", MANUAL)]).await;
    let foreign = b.api.add_foreign_reward("Play a tune", 100);
    sync_rewards(&b.helix, &b.host.declared_rewards(), &b.rewards)
        .await
        .expect("synced");
    let r = b.redeem("Play a tune", "");
    let said = b.next(Duration::from_secs(5)).await;
    assert!(said.contains("made on Twitch, not by the bot"), "{said}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.api.redemption_status(&r).as_deref(), Some("UNFULFILLED"));
    assert_eq!(b.redemption_patches(), 0, "no call Twitch would refuse");
    let info = b
        .host
        .scripts()
        .into_iter()
        .find(|s| s.name == "tune")
        .expect("listed");
    let settings = serde_json::to_value(&info.settings).expect("json");
    assert_eq!(settings["channel_points_refund"], NOT_REFUNDABLE);
    // Twitch itself refuses another client's reward.
    let refused = b
        .helix
        .settle_redemption(&foreign, &r, false)
        .await
        .expect_err("not ours");
    assert_eq!(refused.status(), Some(403), "{refused}");
}

#[test]
fn reward_declarations_keep_twitchs_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, src: &str| {
        let path = dir.path().join("rewards").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, src).expect("write");
    };
    write("a.rhai", "const CHANNEL_POINTS_COST = 10;\nfn run(ctx) {}");
    write(
        "b.rhai",
        &format!(
            "const CHANNEL_POINTS_TITLE = \"{}\";\nconst CHANNEL_POINTS_COST = 10;\nfn run(ctx) {{}}",
            "t".repeat(46)
        ),
    );
    write(
        "c.rhai",
        "const CHANNEL_POINTS_TITLE = \"x\";\nconst CHANNEL_POINTS_PROMPT = \"why\";\nfn run(ctx) {}",
    );
    let errors = check_dir(dir.path());
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{text:#?}");
    assert!(
        text.iter()
            .any(|e| e.contains("a.rhai") && e.contains("needs CHANNEL_POINTS_TITLE")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("b.rhai") && e.contains("1 to 45 characters")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("c.rhai") && e.contains("needs CHANNEL_POINTS_COST")),
        "{text:#?}"
    );
}

/// The next channel event the EventSub client hands on, within 5 s.
async fn next_channel_event(rx: &mut EventReceiver) -> ChannelEventKind {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::Channel(c))) => return c.kind,
            Ok(Some(_)) => {}
            other => panic!("no channel event: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_and_predictions_reach_eventsub_with_their_results() {
    let b = bot(None, ClipWatch::default()).await;
    let settings = EventSubSettings {
        ws_url: b.api.eventsub_url(),
        subscriptions_url: format!("{}/eventsub/subscriptions", b.api.helix_url()),
        broadcaster_id: BROADCASTER_ID.into(),
        config: EventSubConfig::default(),
    };
    let (tx, mut rx) = queue::channel(256);
    let stop = CancellationToken::new();
    let _running = eventsub::spawn(
        settings,
        b.helix.clone(),
        tx,
        Arc::new(MemoryDedup::new(1000)),
        stop.clone(),
    );
    for _ in 0..250 {
        if b.api
            .subscriptions()
            .iter()
            .any(|s| s.kind == "channel.prediction.end")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let choices = ["chips".to_string(), "fruit".to_string()];
    b.helix
        .create_poll("Best snack?", &choices, 60)
        .await
        .expect("poll");
    assert_eq!(
        next_channel_event(&mut rx).await,
        ChannelEventKind::PollBegin {
            title: "Best snack?".into(),
            choices: choices.to_vec(),
        }
    );
    b.api.channel().polls[0].choices[1].2 = 4;
    let id = b.api.channel().polls[0].id.clone();
    b.helix.end_poll(&id, false).await.expect("ended");
    assert_eq!(
        next_channel_event(&mut rx).await,
        ChannelEventKind::PollEnd {
            title: "Best snack?".into(),
            winner: Some("fruit".into()),
        }
    );

    let outcomes = ["yes".to_string(), "no".to_string()];
    let p = b
        .helix
        .create_prediction("Win?", &outcomes, 60)
        .await
        .expect("prediction");
    assert!(matches!(
        next_channel_event(&mut rx).await,
        ChannelEventKind::PredictionBegin { .. }
    ));
    let yes = p.outcomes[0].id.clone();
    b.helix
        .end_prediction(&p.id, &PredictionEnd::Resolve(yes))
        .await
        .expect("resolved");
    assert_eq!(
        next_channel_event(&mut rx).await,
        ChannelEventKind::PredictionEnd {
            title: "Win?".into(),
            winner: Some("yes".into()),
        }
    );
    stop.cancel();
}

/// The real binary in `--offline` mode: typed lines in, printed chat and log lines out.
struct Offline {
    bot: Running,
    /// Lines read while waiting for another.
    unread: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Offline {
    fn start(scripts: &[(&str, String)]) -> Offline {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, src) in scripts {
            let path = dir.path().join("scripts").join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, src).expect("write");
        }
        let bot = BotCommand::in_dir(dir.path())
            .args(["--offline", "--noconsole"])
            .args(common::binary::NO_PEERS)
            .scripts(&dir.path().join("scripts"))
            .spawn();
        Offline {
            bot,
            unread: Vec::new(),
            _dir: dir,
        }
    }

    fn type_line(&mut self, text: &str) {
        self.bot.type_line(text).expect("typing works");
    }

    /// Waits up to `secs` for a printed or logged line containing `want`, one not taken by an
    /// earlier wait.
    fn wait_for(&mut self, want: &str, secs: u64) -> String {
        if let Some(at) = self.unread.iter().position(|l| l.contains(want)) {
            return self.unread.remove(at);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.bot.next_output_line(left) {
                Some(line) if line.contains(want) => return line,
                Some(line) => self.unread.push(line),
                None => panic!(
                    "no line with `{want}` within {secs} s; seen: {:#?}",
                    self.unread
                ),
            }
        }
    }
}

#[test]
fn offline_the_streamers_commands_are_done_on_the_simulated_twitch() {
    let failing_hug = HUG.replace("if ctx.message == \"\"", "if true");
    let mut scripts: Vec<(&str, String)> = vec![
        (
            "commands/ping.rhai",
            "fn run(ctx) { ctx.reply(\"pong\"); }".into(),
        ),
        ("rewards/hug.rhai", failing_hug),
    ];
    for rel in [
        "commands/title.rhai",
        "commands/poll.rhai",
        "commands/clip.rhai",
        "events/clip_ready.rhai",
    ] {
        scripts.push((rel, without_cooldowns(&example(rel))));
    }
    let mut bot = Offline::start(&scripts);
    let mut answered = false;
    for _ in 0..50 {
        bot.type_line("!ping");
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        while let Some(line) = bot
            .bot
            .next_output_line(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            answered |= line.ends_with(": pong");
            bot.unread.push(line);
        }
        if answered {
            break;
        }
    }
    assert!(answered, "the bot answers");
    bot.type_line("/online");
    bot.type_line("/as alice mod !title Offline and proud");
    bot.wait_for("Title set to: Offline and proud", 10);
    bot.type_line("!title");
    bot.wait_for("Title: Offline and proud", 10);
    bot.type_line("/as alice mod !poll Best snack? | chips | fruit");
    bot.wait_for("Poll started: Best snack? — vote for chips, fruit!", 10);
    bot.type_line("/as carol !clip");
    bot.wait_for("Clipping", 10);
    bot.wait_for("New clip (clipped by carol): https://clips.twitch.tv/", 10);
    // The bot created the reward on the simulated Twitch; its script fails, so the viewer's
    // points go back.
    bot.wait_for("channel-point reward created on Twitch", 20);
    bot.type_line("/redeem dave Hug the streamer | hi");
    bot.wait_for("redemption refunded", 10);
}
