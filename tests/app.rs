//! The whole bot in `--offline` mode: real chat client, Helix, EventSub, storage, scripts and
//! moderation against the simulated Twitch, asserting what a streamer would notice. Each test
//! runs on both chat transports (IRC, and EventSub with Helix sends).

#[macro_use]
mod common;

use std::time::Duration;

use common::{copy_scripts, eventually, offline_settings, start_ready};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::sim::viewer::escape_tag;
use twitch_bot::sim::{ClientLine, SimEvent, Viewer};

struct Offline {
    bot: Bot,
    dir: tempfile::TempDir,
    scripts: std::path::PathBuf,
}

async fn start_offline(transport: ChatTransport, tweak: impl FnOnce(&mut Config)) -> Offline {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = copy_scripts(dir.path(), &[]);
    let settings = offline_settings(dir.path(), scripts.clone());
    let mut config = Config::default();
    config.bot.chat.transport = transport;
    tweak(&mut config);
    let bot = start_ready(settings, config).await;
    Offline { bot, dir, scripts }
}

async fn said(
    rx: &mut tokio::sync::broadcast::Receiver<ClientLine>,
    secs: u64,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    common::wait_line(rx, secs, |l| l.privmsg().is_some_and(|m| pred(&m.text)))
        .await
        .and_then(|l| l.privmsg())
        .map(|m| m.text)
}

fn points(bot: &Bot, viewer: &Viewer) -> u64 {
    bot.storage()
        .expect("storage")
        .get(&viewer.id)
        .expect("points read")
}

async fn a_follow_is_thanked_in_chat_and_paid_once(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let alice = Viewer::new("alice");
    sim.fire(&alice, &SimEvent::Follow).await;
    // Thanked once the follow's hold (follow_waves.hold_secs) is over.
    let thanks = said(&mut lines, 10, |t| t.contains("follow"))
        .await
        .expect("the follow script answers");
    assert!(thanks.contains("Alice"), "{thanks}");
    assert_eq!(
        points(&off.bot, &alice),
        50,
        "loyalty.yaml pays 50 for a follow"
    );
    off.bot.shutdown().await;
}

async fn a_sub_seen_on_irc_and_on_eventsub_pays_points_once(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let bob = Viewer::new("bob");
    // Twitch reports the same sub twice: a USERNOTICE in chat and an EventSub notification.
    let usernotice = format!(
        "@badge-info=subscriber/1;badges=subscriber/0;color=;display-name=Bob;emotes=;flags=;id=u-1;login=bob;mod=0;\
         msg-id=sub;msg-param-cumulative-months=1;msg-param-sub-plan=1000;msg-param-sub-plan-name={};room-id={};\
         subscriber=1;system-msg={};tmi-sent-ts=1;user-id={};user-type= :tmi.twitch.tv USERNOTICE #mychannel",
        escape_tag("Channel Subscription"),
        twitch_bot::sim::chat::room_id("mychannel"),
        escape_tag("Bob subscribed at Tier 1."),
        bob.id
    );
    sim.chat.send_to_channel("mychannel", usernotice).await;
    sim.fire(&bob, &SimEvent::Subscribe { tier: 1 }).await;
    assert!(
        said(&mut lines, 5, |t| t.contains("subscribed"))
            .await
            .is_some(),
        "the sub is thanked"
    );
    assert!(
        said(&mut lines, 1, |t| t.contains("subscribed"))
            .await
            .is_none(),
        "thanked once, not twice"
    );
    assert_eq!(
        points(&off.bot, &bob),
        500,
        "paid once: 500 for a tier 1 sub"
    );
    off.bot.shutdown().await;
}

async fn a_banned_word_in_disguise_is_deleted_through_helix(transport: ChatTransport) {
    let off = start_offline(transport, |c| {
        c.moderation.banned.terms = vec!["badword".into()]
    })
    .await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let troll = Viewer::new("troll");
    // Cyrillic а and о, and a zero-width space.
    let id = sim
        .chat_as(&troll, "you are a b\u{0430}dw\u{043e}\u{200b}rd")
        .await;
    let deleted = eventually(5, || {
        sim.api.requests().iter().any(|r| {
            r.method == "DELETE"
                && r.path == "/moderation/chat"
                && r.query.iter().any(|(k, v)| k == "message_id" && *v == id)
        })
    })
    .await;
    assert!(
        deleted,
        "Helix got the delete: {:?}",
        sim.api
            .requests()
            .iter()
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    // An innocent message with a look-alike name is left alone and commands still work.
    sim.chat_as(&Viewer::new("badwordsmith_fan"), "!ping").await;
    assert_eq!(said(&mut lines, 5, |_| true).await.as_deref(), Some("pong"));
    let storage = off.bot.storage().expect("storage");
    // The moderation log is written off the dispatcher's path, so give it a moment.
    assert!(
        eventually(5, || storage
            .recent_modlog(10)
            .is_ok_and(|log| !log.is_empty()))
        .await
    );
    let log = storage.recent_modlog(10).expect("modlog");
    assert_eq!(log.len(), 1, "the action is in the moderation log");
    assert_eq!(
        log[0].1["normalized"]
            .as_str()
            .map(|t| t.contains("badword")),
        Some(true),
        "{:?}",
        log[0].1
    );
    off.bot.shutdown().await;
}

async fn a_saved_command_answers_without_a_restart(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    std::fs::write(
        off.scripts.join("commands/hello.rhai"),
        "const ALIASES = [\"hi\"];\nfn run(ctx) { ctx.reply(`hello ${ctx.user.name}`); }\n",
    )
    .expect("save the script");
    let mut answer = None;
    for _ in 0..20 {
        sim.chat_as(&Viewer::new("carol"), "!hi").await;
        answer = said(&mut lines, 1, |t| t.starts_with("hello")).await;
        if answer.is_some() {
            break;
        }
    }
    assert_eq!(answer.as_deref(), Some("hello Carol"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    off.bot.shutdown().await;
}

async fn an_edited_moderation_config_applies_without_a_restart_and_a_broken_one_is_refused(
    transport: ChatTransport,
) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let file = off.dir.path().join("configs/moderation.yaml");
    let deleted = |id: &str| {
        sim.api
            .requests()
            .iter()
            .any(|r| r.path == "/moderation/chat" && r.query.iter().any(|(_, v)| v == id))
    };
    // A broken edit is refused: the old rules (nothing banned) stay.
    std::fs::write(&file, "banned:\n  terms: [zonk\n").expect("write");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let first = sim.chat_as(&Viewer::new("eve"), "zonk").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!deleted(&first), "nothing is banned yet");
    std::fs::write(&file, "banned:\n  terms: [zonk]\n").expect("write");
    let mut caught = false;
    for _ in 0..30 {
        let id = sim.chat_as(&Viewer::new("eve"), "zonk").await;
        if eventually(1, || deleted(&id)).await {
            caught = true;
            break;
        }
    }
    assert!(caught, "the saved banned term is enforced");
    off.bot.shutdown().await;
}

async fn a_moderator_refunds_a_viewer_s_last_spend_once(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    // A command that costs 30 points.
    std::fs::write(
        off.scripts.join("commands/hydrate.rhai"),
        "const COST = 30;\nfn run(ctx) { ctx.reply(\"drink water\"); }\n",
    )
    .expect("save the script");
    let alice = Viewer::new("alice");
    sim.fire(&alice, &SimEvent::Follow).await; // 50 points, after the follow's hold
    assert!(eventually(10, || points(&off.bot, &alice) == 50).await);
    let mut spent = false;
    for _ in 0..20 {
        sim.chat_as(&alice, "!hydrate").await;
        if said(&mut lines, 1, |t| t == "drink water").await.is_some() {
            spent = true;
            break;
        }
    }
    assert!(spent, "the paid command ran");
    assert_eq!(points(&off.bot, &alice), 20);

    let moderator = Viewer::new("mod_mary").with(twitch_bot::event::Roles::MODERATOR);
    sim.chat_as(&moderator, "!refund alice").await;
    let answer = said(&mut lines, 5, |t| t.starts_with("Refunded"))
        .await
        .expect("the refund is announced");
    assert!(
        answer.contains("30") && answer.contains("(now 50)"),
        "{answer}"
    );
    assert_eq!(points(&off.bot, &alice), 50);
    // The same spend is not refunded twice.
    sim.chat_as(&moderator, "!refund alice").await;
    assert!(
        said(&mut lines, 5, |t| t.contains("no spend left"))
            .await
            .is_some()
    );
    assert_eq!(points(&off.bot, &alice), 50);
    // A viewer cannot refund.
    sim.chat_as(&alice, "!refund alice").await;
    assert!(
        said(&mut lines, 2, |t| t.starts_with("Refunded"))
            .await
            .is_none()
    );
    off.bot.shutdown().await;
}

async fn a_moderator_s_typo_in_permit_does_not_stop_the_bot(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let moderator = Viewer::new("modmin").with(twitch_bot::event::Roles::MODERATOR);
    // u64::MAX seconds used to overflow `Instant + Duration` inside the dispatcher.
    sim.chat_as(&moderator, "!permit alice 18446744073709551615")
        .await;
    let answer = said(&mut lines, 5, |t| t.contains("alice may post"))
        .await
        .expect("the permit is answered");
    assert!(answer.contains("86400"), "capped at a day: {answer}");
    let viewer = Viewer::new("regular");
    sim.chat_as(&viewer, "!ping").await;
    assert!(
        said(&mut lines, 5, |t| t.contains("pong")).await.is_some(),
        "the bot still answers"
    );
    off.bot.shutdown().await;
}

/// The simulator's own sub button: chat announces it (a USERNOTICE on IRC, a
/// `channel.chat.notification` on EventSub chat) as Twitch does, and EventSub's
/// `channel.subscribe` alone pays.
async fn a_simulated_sub_is_announced_in_chat_and_paid_once(transport: ChatTransport) {
    let off = start_offline(transport, |_| {}).await;
    let sim = off.bot.sim().expect("offline");
    let mut events = off.bot.subscribe();
    let mut lines = sim.chat.subscribe();
    let dora = Viewer::new("dora");
    sim.fire(&dora, &SimEvent::Subscribe { tier: 1 }).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut announced = None;
    while announced.is_none() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(twitch_bot::event::LiveEvent::Event { event, .. })) => {
                if let twitch_bot::event::Event::UserNotice(n) = event.as_ref()
                    && n.sender.login == "dora"
                {
                    announced = Some(n.system_msg.clone());
                }
            }
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let announced = announced.expect("chat announces the sub");
    assert!(announced.contains("subscribed at Tier 1"), "{announced}");
    assert!(
        said(&mut lines, 5, |t| t.contains("subscribed"))
            .await
            .is_some(),
        "the sub is thanked"
    );
    assert!(
        said(&mut lines, 1, |t| t.contains("subscribed"))
            .await
            .is_none(),
        "thanked once, not twice"
    );
    assert_eq!(points(&off.bot, &dora), 500, "paid once");
    off.bot.shutdown().await;
}

on_both_transports!(
    a_simulated_sub_is_announced_in_chat_and_paid_once,
    a_follow_is_thanked_in_chat_and_paid_once,
    a_sub_seen_on_irc_and_on_eventsub_pays_points_once,
    a_banned_word_in_disguise_is_deleted_through_helix,
    a_saved_command_answers_without_a_restart,
    an_edited_moderation_config_applies_without_a_restart_and_a_broken_one_is_refused,
    a_moderator_refunds_a_viewer_s_last_spend_once,
    a_moderator_s_typo_in_permit_does_not_stop_the_bot,
);
