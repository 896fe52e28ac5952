//! Sending chat over Helix (`POST /chat/messages`) against the simulated Twitch on 127.0.0.1:
//! replies threaded, held messages reported with Twitch's reason and not retried, a refused
//! first send handing the queue back for IRC, the app access token fetched and renewed before
//! it expires, 500-character splitting and the rate classes; several posts in flight arriving in
//! the order they were queued, and a throttled one going again with nothing lost or doubled.

mod common;

use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use twitch_bot::config::Secrets;
use twitch_bot::config::bot::RateLimit;
use twitch_bot::event::Event;
use twitch_bot::queue::EventReceiver;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{
    ClientLine, FakeApiOptions, FakeChat, FakeChatOptions, FakeTwitchApi, SentMessage,
};
use twitch_bot::twitch::auth::{AuthClient, Tokens};
use twitch_bot::twitch::chat::helix_send::{self, HelixSendSettings, SendEnd};
use twitch_bot::twitch::chat::{self, ChatHandle, ChatSettings, ChatUrl, Outgoing, outgoing};
use twitch_bot::twitch::helix::{Helix, RetryPolicy};

const CHANNEL: &str = "mychannel";

/// The simulated Twitch (API and chat, one room) and a Helix client with the bot's grants.
struct Sim {
    api: FakeTwitchApi,
    chat: FakeChat,
    helix: Helix,
}

async fn sim(client_secret: Option<&str>) -> Sim {
    let api = FakeTwitchApi::start(FakeApiOptions {
        pending_polls: 0,
        ..FakeApiOptions::default()
    })
    .await
    .unwrap();
    let chat = FakeChat::start(FakeChatOptions::default()).await.unwrap();
    api.post_chat_to(chat.room());
    api.set_client_secret(client_secret);
    let mut bot = twitch_bot::config::BotConfig::default();
    let mut secrets = Secrets::default();
    api.configure(&mut bot, &mut secrets);
    secrets.client_secret = client_secret.map(str::to_string);
    let http = reqwest::Client::new();
    let auth = AuthClient::new(
        http.clone(),
        &api.auth_url(),
        &secrets.client_id,
        secrets.client_secret.as_deref(),
    );
    let tokens = Tokens::new(auth, secrets, None);
    let helix = Helix::new(http, &api.helix_url(), tokens, RetryPolicy::default());
    Sim { api, chat, helix }
}

fn settings() -> HelixSendSettings {
    HelixSendSettings {
        channel: CHANNEL.into(),
        broadcaster_id: BROADCASTER_ID.into(),
        sender_id: BOT_ID.into(),
    }
}

fn say(text: &str) -> Outgoing {
    Outgoing {
        channel: CHANNEL.into(),
        text: text.into(),
        reply_to: None,
    }
}

/// Starts the Helix sender on a new queue of the normal rate class.
fn start(
    sim: &Sim,
    shutdown: &CancellationToken,
) -> (ChatHandle, tokio::task::JoinHandle<SendEnd>, EventReceiver) {
    start_at(sim, shutdown, RateLimit::Normal)
}

/// Starts the Helix sender on a new queue of rate class `rate`.
fn start_at(
    sim: &Sim,
    shutdown: &CancellationToken,
    rate: RateLimit,
) -> (ChatHandle, tokio::task::JoinHandle<SendEnd>, EventReceiver) {
    let (handle, queue) = outgoing::channel(1_000, rate);
    let (events, rx) = twitch_bot::queue::channel(64);
    let task = helix_send::spawn(
        settings(),
        queue,
        sim.helix.clone(),
        events,
        shutdown.clone(),
    );
    (handle, task, rx)
}

/// The next chat message that appears in the room, within `secs`.
async fn next_message(
    lines: &mut broadcast::Receiver<ClientLine>,
    secs: u64,
) -> Option<SentMessage> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Ok(line)) => {
                if let Some(msg) = line.privmsg() {
                    return Some(msg);
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            _ => return None,
        }
    }
}

/// POSTs of `/chat/messages` the fake received so far.
fn send_requests(api: &FakeTwitchApi) -> Vec<serde_json::Value> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/chat/messages")
        .map(|r| r.body)
        .collect()
}

#[tokio::test]
async fn a_reply_arrives_threaded_through_helix() {
    let sim = sim(None).await;
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start(&sim, &shutdown);
    handle
        .send(Outgoing {
            reply_to: Some("parent-msg-1".into()),
            ..say("pong")
        })
        .unwrap();
    let msg = next_message(&mut lines, 5)
        .await
        .expect("the reply appears in chat");
    assert_eq!(msg.text, "pong");
    assert_eq!(
        msg.reply_to.as_deref(),
        Some("parent-msg-1"),
        "in the thread"
    );
    let bodies = send_requests(&sim.api);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["reply_parent_message_id"], "parent-msg-1");
    assert_eq!(bodies[0]["broadcaster_id"], BROADCASTER_ID);
    assert_eq!(bodies[0]["sender_id"], BOT_ID);
    let sent = sim.api.helix_chat_sent();
    assert!(!sent[0].app_token, "no client secret: the bot's user token");
    shutdown.cancel();
    assert!(matches!(task.await.unwrap(), SendEnd::Stopped { .. }));
}

#[tokio::test]
async fn a_held_message_is_logged_with_twitchs_reason_and_not_retried() {
    let (logs, _guard) = common::logs::capture();
    let sim = sim(None).await;
    // AutoMod does not judge moderators: the bot is a plain chatter here.
    sim.api.set_moderator(BOT_ID, false);
    sim.api.automod_holds("forbiddenword");
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, mut events) = start(&sim, &shutdown);
    handle.send(say("this has a forbiddenword in it")).unwrap();
    handle.send(say("and this one is fine")).unwrap();
    let msg = next_message(&mut lines, 5)
        .await
        .expect("the next message goes on");
    assert_eq!(
        msg.text, "and this one is fine",
        "the held one never reached chat"
    );
    assert_eq!(
        sim.api.helix_chat_dropped(),
        vec![(
            "this has a forbiddenword in it".to_string(),
            "msg_rejected".to_string()
        )]
    );
    // Not retried: one request for it, then the next message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held: Vec<_> = send_requests(&sim.api)
        .into_iter()
        .filter(|b| b["message"] == "this has a forbiddenword in it")
        .collect();
    assert_eq!(held.len(), 1, "sent once, never again");
    let log = logs.text();
    assert!(
        log.contains("Your message is being checked by mods and has not been sent.")
            && log.contains("msg_rejected"),
        "logged with Twitch's reason: {log}"
    );
    assert_eq!(
        log.matches("Twitch did not send").count(),
        1,
        "logged once: {log}"
    );
    // The bot's other parts hear of it as the chat notice IRC would give.
    let notice = loop {
        match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            Ok(Some(Event::Notice(n))) => break n,
            Ok(Some(_)) => {}
            _ => panic!("no notice for the held message"),
        }
    };
    assert_eq!(notice.msg_id.as_deref(), Some("msg_rejected"));
    assert_eq!(notice.channel.as_deref(), Some(CHANNEL));
    shutdown.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_refused_first_send_hands_the_queue_back_with_every_message_for_irc() {
    let sim = sim(None).await;
    sim.api.forbid_chat_sender(BOT_ID, true);
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    // Twitch slow to answer: were more posts let out before the first answer, they would be
    // in flight when the refusal comes.
    sim.api.delay_chat_answers(Duration::from_millis(100));
    let (handle, task, _events) = start(&sim, &shutdown);
    for i in 1..=12 {
        handle.send(say(&format!("message {i}"))).unwrap();
    }
    let end = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the sender gives up at once")
        .unwrap();
    let SendEnd::Refused { queue, reason } = end else {
        panic!("expected Refused, got {end:?}");
    };
    assert!(reason.contains("403"), "{reason}");
    assert_eq!(
        queue.waiting_lines().next().map(|l| l.text.as_str()),
        Some("message 1"),
        "the refused message is back at the front"
    );
    // IRC takes the same queue; the handle the bot holds goes on working.
    let irc = ChatSettings {
        url: ChatUrl::parse(&sim.chat.irc_url()).unwrap(),
        login: "mybot".into(),
        token: "irc-token".into(),
        channel: CHANNEL.into(),
        rate_limit: RateLimit::Normal,
        ping_interval: Duration::from_secs(60),
        ping_timeout: Duration::from_secs(10),
        outgoing_capacity: 1_000,
        max_backoff: Duration::from_secs(5),
    };
    let (sink, _rx) = twitch_bot::queue::channel(1_024);
    let irc_task = chat::spawn(irc, queue, sink, shutdown.clone());
    assert_eq!(
        send_requests(&sim.api).len(),
        1,
        "one post before Twitch's first answer, so none is in flight when it refuses"
    );
    handle.send(say("message 13")).unwrap();
    let mut got = Vec::new();
    while got.len() < 13 {
        let msg = next_message(&mut lines, 5)
            .await
            .expect("every message arrives over IRC");
        got.push(msg.text);
    }
    let want: Vec<String> = (1..=13).map(|i| format!("message {i}")).collect();
    assert_eq!(got, want, "every message once, in order");
    assert!(
        next_message(&mut lines, 1).await.is_none(),
        "nothing arrives twice"
    );
    assert!(sim.api.helix_chat_sent().is_empty());
    shutdown.cancel();
    let _ = irc_task.await;
}

/// Waits up to `secs` until the fake has accepted `n` messages; their texts, in the order the
/// fake received them.
async fn accepted(api: &FakeTwitchApi, n: usize, secs: u64) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let sent = api.helix_chat_sent();
        if sent.len() >= n || tokio::time::Instant::now() >= deadline {
            return sent.into_iter().map(|m| m.text).collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn reply(text: &str, parent: &str) -> Outgoing {
    Outgoing {
        reply_to: Some(parent.into()),
        ..say(text)
    }
}

/// With Twitch taking its time to answer, a burst of replies to different messages (a flood's
/// `!ping`s) goes out several posts at a time, in a fraction of the time one post per answer
/// would take, and every reply reaches chat once, at most a few places from where it was
/// queued. Two worker threads, so the posts' connections really race each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_different_messages_go_out_several_posts_at_a_time() {
    const BURST: usize = 200;
    const ANSWER: Duration = Duration::from_millis(40);
    let sim = sim(None).await;
    sim.api.delay_chat_answers(ANSWER);
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start_at(&sim, &shutdown, RateLimit::Unlimited);
    let want: Vec<String> = (0..BURST).map(|i| format!("pong {i:03}")).collect();
    let started = std::time::Instant::now();
    for (i, text) in want.iter().enumerate() {
        handle
            .send_wait(reply(text, &format!("ping-{i}")))
            .await
            .unwrap();
    }
    let got = accepted(&sim.api, BURST, 60).await;
    let took = started.elapsed();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "every reply once");
    let mut swapped = 0;
    for (at, text) in got.iter().enumerate() {
        let queued = want.iter().position(|w| w == text).unwrap();
        assert!(
            at.abs_diff(queued) <= 7,
            "{text} arrived {at}th: no further than the window from its place"
        );
        swapped += usize::from(at != queued);
    }
    let waiting = sim.api.most_chat_posts_waiting();
    assert!(
        (2..=8).contains(&waiting),
        "several posts (at most eight) wait for their answers together: {waiting}"
    );
    let one_at_a_time = ANSWER * BURST as u32;
    println!(
        "{BURST} replies, answers taking {ANSWER:?}: {took:?} (one at a time: at least \
         {one_at_a_time:?}); at most {waiting} waiting together; {swapped} out of place"
    );
    assert!(
        took < one_at_a_time / 2,
        "{took:?}: the waits for answers overlap"
    );
    shutdown.cancel();
    assert!(matches!(task.await.unwrap(), SendEnd::Stopped { .. }));
}

/// Under the same load, what a viewer reads as a sequence arrives exactly in the order it was
/// queued: lines outside any thread, the parts of a split reply, and two replies in one
/// thread. Only replies in different threads share the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_parts_and_threads_keep_their_order_with_posts_in_flight() {
    const ROUNDS: usize = 40;
    let sim = sim(None).await;
    sim.api.delay_chat_answers(Duration::from_millis(15));
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start_at(&sim, &shutdown, RateLimit::Unlimited);
    let long = |k: usize| {
        (0..120)
            .map(|w| format!("r{k}w{w:03}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut queued: Vec<Outgoing> = Vec::new();
    for k in 0..ROUNDS {
        queued.push(reply(&format!("{k}: to a"), &format!("a-{k}")));
        queued.push(reply(&format!("{k}: first to b"), &format!("b-{k}")));
        queued.push(reply(&format!("{k}: second to b"), &format!("b-{k}")));
        queued.push(reply(&long(k), &format!("c-{k}")));
        queued.push(say(&format!("{k}: a line of its own")));
    }
    for msg in &queued {
        handle.send_wait(msg.clone()).await.unwrap();
    }
    // The long reply is two messages.
    let total = ROUNDS * 6;
    let got = accepted(&sim.api, total, 60).await;
    assert_eq!(got.len(), total, "every message once");
    let at = |text: &str| {
        got.iter()
            .position(|g| g == text)
            .unwrap_or_else(|| panic!("{text} missing"))
    };
    for k in 0..ROUNDS {
        let line = at(&format!("{k}: a line of its own"));
        assert_eq!(line, k * 6 + 5, "round {k}'s own line is in its place");
        assert!(at(&format!("{k}: first to b")) < at(&format!("{k}: second to b")));
        let parts: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, g)| g.starts_with(&format!("r{k}w")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(parts.len(), 2, "the long reply is split in two");
        assert!(
            got[parts[0]].starts_with(&format!("r{k}w000")),
            "its first part arrives first"
        );
    }
    assert!(
        sim.api.most_chat_posts_waiting() >= 2,
        "replies in different threads did go together"
    );
    shutdown.cancel();
    let _ = task.await;
}

/// A 429 for every post in flight (Twitch's bucket ran dry): each goes again after the
/// bucket's reset, in its order and before anything not yet started, and every message reaches
/// chat exactly once. (A post answered 200 beside a throttled one has reached chat already and
/// stays ahead of it: nothing calls it back.)
#[tokio::test]
async fn throttled_posts_go_again_after_the_reset_in_their_order() {
    let sim = sim(None).await;
    sim.api.delay_chat_answers(Duration::from_millis(50));
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start_at(&sim, &shutdown, RateLimit::Unlimited);
    handle.send(say("opener")).unwrap();
    assert_eq!(accepted(&sim.api, 1, 5).await, ["opener"]);
    // The eight posts in flight next are answered 429, reset a second away.
    sim.api.throttle_next(8, 1);
    for i in 0..12 {
        handle
            .send(reply(&format!("after {i}"), &format!("parent-{i}")))
            .unwrap();
    }
    let started = std::time::Instant::now();
    let got = accepted(&sim.api, 13, 10).await;
    let mut want = vec!["opener".to_string()];
    want.extend((0..12).map(|i| format!("after {i}")));
    assert_eq!(got, want, "the throttled ones go first, in their order");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the throttled ones waited for the reset: {:?}",
        started.elapsed()
    );
    let throttled = sim
        .api
        .tally()
        .into_iter()
        .filter(|((kind, status), _)| kind == "POST /chat/messages" && *status == 429)
        .map(|(_, n)| n)
        .sum::<u64>();
    assert_eq!(
        throttled, 8,
        "only the eight posts in flight were throttled"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.api.helix_chat_sent().len(), 13, "nothing sent twice");
    shutdown.cancel();
    let _ = task.await;
}

/// Twitch failing two posts of a full window (503): those two go again after a backoff, ahead
/// of everything not yet started, while the six answered 200 beside them stay in chat ahead of
/// them; every message reaches chat exactly once.
#[tokio::test]
async fn failed_posts_in_a_full_window_go_again_once_and_nothing_is_lost_or_doubled() {
    let sim = sim(None).await;
    sim.api.delay_chat_answers(Duration::from_millis(50));
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start_at(&sim, &shutdown, RateLimit::Unlimited);
    handle.send(say("opener")).unwrap();
    assert_eq!(accepted(&sim.api, 1, 5).await, ["opener"]);
    sim.api.fail_next(2);
    for i in 0..12 {
        handle
            .send(reply(&format!("after {i}"), &format!("parent-{i}")))
            .unwrap();
    }
    let got = accepted(&sim.api, 13, 10).await;
    let mut want = vec!["opener".to_string()];
    want.extend(
        [2, 3, 4, 5, 6, 7, 0, 1, 8, 9, 10, 11]
            .iter()
            .map(|i| format!("after {i}")),
    );
    assert_eq!(got, want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.api.helix_chat_sent().len(), 13, "nothing sent twice");
    shutdown.cancel();
    assert!(matches!(task.await.unwrap(), SendEnd::Stopped { .. }));
}

#[tokio::test]
async fn the_app_token_is_fetched_and_renewed_before_it_expires() {
    let (logs, _guard) = common::logs::capture();
    let sim = sim(Some("confidential-secret")).await;
    sim.api.set_app_token_lifetime(Duration::from_secs(2));
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start(&sim, &shutdown);
    handle.send(say("first")).unwrap();
    assert_eq!(next_message(&mut lines, 5).await.unwrap().text, "first");
    assert_eq!(sim.api.app_token_grants(), 1);
    // Three quarters into its life the token is renewed before the next send; it never
    // reaches Twitch expired.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    handle.send(say("second")).unwrap();
    assert_eq!(next_message(&mut lines, 5).await.unwrap().text, "second");
    assert_eq!(sim.api.app_token_grants(), 2, "fetched again before expiry");
    let sent = sim.api.helix_chat_sent();
    assert!(
        sent.iter().all(|m| m.app_token),
        "both with the app token: {sent:?}"
    );
    let refused = sim
        .api
        .tally()
        .into_iter()
        .filter(|((kind, status), _)| kind == "POST /chat/messages" && *status != 200)
        .count();
    assert_eq!(refused, 0, "no send was refused");
    let log = logs.text();
    assert_eq!(
        log.matches("sending over Helix with an app access token")
            .count(),
        1,
        "the choice is logged once: {log}"
    );
    shutdown.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_refused_app_token_hands_over_to_the_bots_user_token() {
    let sim = sim(Some("confidential-secret")).await;
    // Neither channel:bot from the broadcaster nor a moderator bot: Twitch refuses the app
    // token, and the message goes with the bot's own token instead.
    // (The broadcaster's grant, with its channel:bot, is gone from Twitch's side.)
    sim.api.set_moderator(BOT_ID, false);
    sim.api.revoke_user(BROADCASTER_ID);
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start(&sim, &shutdown);
    handle.send(say("hello")).unwrap();
    assert_eq!(next_message(&mut lines, 5).await.unwrap().text, "hello");
    let sent = sim.api.helix_chat_sent();
    assert_eq!(sent.len(), 1);
    assert!(
        !sent[0].app_token,
        "sent with the user token after the refusal"
    );
    shutdown.cancel();
    assert!(matches!(task.await.unwrap(), SendEnd::Stopped { .. }));
}

#[tokio::test]
async fn long_messages_are_split_at_500_characters() {
    let sim = sim(None).await;
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start(&sim, &shutdown);
    let words: Vec<String> = (0..240).map(|i| format!("word{i:03}")).collect();
    let text = words.join(" ");
    assert!(text.chars().count() > 1_000);
    handle.send(say(&text)).unwrap();
    let mut parts = Vec::new();
    while parts.join(" ").len() < text.len() {
        parts.push(
            next_message(&mut lines, 5)
                .await
                .expect("every part arrives")
                .text,
        );
    }
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|p| p.chars().count() <= 500));
    assert_eq!(parts.join(" "), text, "split between words, nothing lost");
    assert!(
        sim.api
            .tally()
            .keys()
            .all(|(kind, status)| kind != "POST /chat/messages" || *status == 200),
        "Twitch never saw a message over 500 characters"
    );
    shutdown.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn the_rate_class_holds_and_a_moderator_badge_lifts_it() {
    let sim = sim(None).await;
    let mut lines = sim.chat.subscribe();
    let shutdown = CancellationToken::new();
    let (handle, task, _events) = start(&sim, &shutdown);
    for i in 0..25 {
        handle.send(say(&format!("line {i}"))).unwrap();
    }
    let mut got = 0;
    while next_message(&mut lines, 2).await.is_some() {
        got += 1;
    }
    assert_eq!(got, 20, "twenty in 30 s in the normal class");
    // The EventSub reader sees the bot's moderator badge: the rest go at once.
    handle.set_moderator(true);
    while got < 25 {
        next_message(&mut lines, 2)
            .await
            .expect("the moderator class lets the rest go");
        got += 1;
    }
    shutdown.cancel();
    let _ = task.await;
}

/// The simulated Send Chat Message refuses what Twitch's documentation says it refuses.
#[tokio::test]
async fn the_simulator_answers_send_chat_message_as_twitch_documents() {
    let sim = sim(Some("confidential-secret")).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/messages", sim.api.helix_url());
    let bot_token = sim
        .helix
        .tokens()
        .access(twitch_bot::twitch::auth::Account::Bot);
    let post = |token: String, body: serde_json::Value| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let resp = http
                .post(&url)
                .bearer_auth(token)
                .header("Client-Id", "fakeclient")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let body = |text: &str| serde_json::json!({"broadcaster_id": BROADCASTER_ID, "sender_id": BOT_ID, "message": text});
    assert_eq!(post(bot_token.clone(), body("hi")).await.0, 200);
    let (status, answer) = post(bot_token.clone(), body(&"x".repeat(501))).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (422, Some("The message is too large")),
        "{answer}"
    );
    let (status, _) = post(
        bot_token.clone(),
        serde_json::json!({"broadcaster_id": BROADCASTER_ID, "message": "hi"}),
    )
    .await;
    assert_eq!(status, 400, "sender_id is required");
    // A user token speaks only for its own user.
    let viewer_token = sim
        .api
        .issue_tokens_with_scopes("3000", &["user:write:chat"])
        .0;
    assert_eq!(post(viewer_token, body("hi")).await.0, 401);
    let no_scope = sim.api.issue_tokens_with_scopes(BOT_ID, &["chat:read"]).0;
    let (status, answer) = post(no_scope, body("hi")).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (401, Some("Missing scope: user:write:chat"))
    );
    // The client-credentials grant needs the right secret.
    let token = |secret: &str| {
        let http = http.clone();
        let url = format!("{}/token", sim.api.auth_url());
        let secret = secret.to_string();
        async move {
            http.post(url)
                .form(&[
                    ("client_id", "fakeclient"),
                    ("client_secret", secret.as_str()),
                    ("grant_type", "client_credentials"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(token("wrong").await.status().as_u16(), 403);
    let app: serde_json::Value = token("confidential-secret").await.json().await.unwrap();
    let app_token = app["access_token"].as_str().unwrap().to_string();
    assert!(
        app["refresh_token"].is_null(),
        "no refresh token for an app token"
    );
    assert_eq!(post(app_token.clone(), body("badge")).await.0, 200);
    assert!(sim.api.helix_chat_sent().last().unwrap().app_token);
    // Without the broadcaster's channel:bot, only a moderator may send with it.
    sim.api.revoke_user(BROADCASTER_ID);
    assert_eq!(
        post(app_token.clone(), body("badge")).await.0,
        200,
        "the bot is a moderator"
    );
    sim.api.set_moderator(BOT_ID, false);
    assert_eq!(post(app_token, body("badge")).await.0, 403);
}
