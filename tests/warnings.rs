//! The ladder's `warn` step against the simulated Twitch API: with `moderator:manage:warnings`
//! granted it is Twitch's native warning (`POST /moderation/warnings`), not a chat line; when
//! Twitch refuses (the bot is not a moderator) the chat line goes instead, and later warnings
//! go to chat directly. The simulator checks what Twitch checks. Below the chat transport (the
//! chat line is caught where chat's warning lane takes it), so these run once, not per
//! transport.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use twitch_bot::config::Secrets;
use twitch_bot::config::moderation::ModerationConfig;
use twitch_bot::event::{ChatMessage, Chatter};
use twitch_bot::moderation::enforce::{Enforcer, Limits};
use twitch_bot::moderation::{Moderator, Verdict};
use twitch_bot::outputs::Outputs;
use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
use twitch_bot::twitch::auth::{Account, AuthClient, Tokens};
use twitch_bot::twitch::chat::Warning;
use twitch_bot::twitch::helix::{ChannelIds, Helix, RetryPolicy, WARNINGS_SCOPE};

/// The simulator's viewer (`3000`, `viewer_one`).
const VIEWER_ID: &str = "3000";

struct Bot {
    api: FakeTwitchApi,
    outputs: Outputs,
    moderator: Moderator,
    /// Warnings that went to chat's warning lane.
    chat_lines: Arc<Mutex<Vec<Warning>>>,
    _stop: tokio_util::sync::DropGuard,
}

/// The moderation path as the app wires it: the real ladder, the action queue and Helix
/// against the simulator, native warnings on when the bot's grant holds the scope.
async fn bot(bot_scopes: Option<&[&str]>) -> Bot {
    bot_saving(bot_scopes, None).await
}

/// [`bot`], with `saved` as the scopes secrets.yaml claims (a grant changed since it was saved).
async fn bot_saving(bot_scopes: Option<&[&str]>, saved: Option<&[&str]>) -> Bot {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    (secrets.bot.access_token, secrets.bot.refresh_token) = match bot_scopes {
        Some(scopes) => api.issue_tokens_with_scopes(BOT_ID, scopes),
        None => api.issue_tokens(BOT_ID),
    };
    secrets.bot.scopes = match saved {
        Some(scopes) => scopes.iter().map(|s| (*s).to_owned()).collect(),
        None => api.scopes_of(&secrets.bot.access_token),
    };
    (
        secrets.broadcaster.access_token,
        secrets.broadcaster.refresh_token,
    ) = api.issue_tokens(BROADCASTER_ID);
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
    let stop = tokio_util::sync::CancellationToken::new();
    let enforcer = Enforcer::start(helix.clone(), Limits::default(), stop.clone());
    let chat_lines = Arc::new(Mutex::new(Vec::new()));
    if helix.has_scope(Account::Bot, WARNINGS_SCOPE) {
        let lines = chat_lines.clone();
        enforcer.use_native_warnings(move |w| lines.lock().unwrap().push(w));
    }
    let outputs = Outputs {
        helix: Some(helix),
        enforcer: Some(enforcer),
        ..Outputs::default()
    };
    Bot {
        api,
        outputs,
        moderator: Moderator::new(&ModerationConfig::default()).expect("default config"),
        chat_lines,
        _stop: stop.drop_guard(),
    }
}

fn link_from(id: &str, login: &str, n: u32) -> ChatMessage {
    ChatMessage::test(login, "buy followers at cheap-views.example.com")
        .id(format!("msg-{login}-{n}"))
        .in_channel("mychannel", BROADCASTER_ID)
        .sender(Chatter::test(login).user_id(id).display_name(login))
}

impl Bot {
    /// `login` posts a link `times` times; each decision is carried out as the dispatcher does.
    fn post_links(&mut self, id: &str, login: &str, times: u32) {
        for n in 0..times {
            let msg = link_from(id, login, n);
            let Verdict::Caught(d) = self.moderator.check(&msg, Instant::now()) else {
                panic!("a link passed the links filter");
            };
            self.outputs.punish(&d, &msg);
        }
    }

    fn warning_calls(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path == "/moderation/warnings")
            .count()
    }

    async fn until(&self, what: &str, ok: impl Fn(&Bot) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ok(self) {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn with_the_scope_the_warn_step_is_twitchs_native_warning() {
    let mut b = bot(None).await;
    // First offence deletes, the second warns.
    b.post_links(VIEWER_ID, "viewer_one", 2);
    b.until("the warning reaches Twitch", |b| {
        !b.api.warnings().is_empty()
    })
    .await;
    let req = b
        .api
        .requests()
        .into_iter()
        .find(|r| r.path == "/moderation/warnings")
        .expect("a warning call");
    assert_eq!(req.method, "POST");
    let q = |k: &str| {
        req.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(q("broadcaster_id").as_deref(), Some(BROADCASTER_ID));
    assert_eq!(q("moderator_id").as_deref(), Some(BOT_ID));
    assert_eq!(req.body["data"]["user_id"], VIEWER_ID);
    let (user, reason) = &b.api.warnings()[0];
    assert_eq!(user, VIEWER_ID);
    assert!(reason.contains("links"), "{reason}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        b.chat_lines.lock().unwrap().is_empty(),
        "no chat line when Twitch took the warning"
    );
    assert_eq!(b.warning_calls(), 1);
}

#[tokio::test]
async fn a_refused_native_warning_falls_back_to_the_chat_line_and_later_ones_go_to_chat() {
    let mut b = bot(None).await;
    b.api.set_moderator(BOT_ID, false);
    b.post_links(VIEWER_ID, "viewer_one", 2);
    b.until("the refused warning goes to chat", |b| {
        b.chat_lines.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(b.warning_calls(), 1, "Twitch was asked once");
    assert!(b.api.warnings().is_empty());
    assert!(!b.outputs.enforcer.as_ref().unwrap().native_warnings());
    // Another viewer's warning goes to chat without asking Twitch again.
    b.post_links("4000", "viewer_two", 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.warning_calls(), 1);
    let lines = b.chat_lines.lock().unwrap().clone();
    assert_eq!(
        lines.len(),
        1,
        "the second went straight to chat, not via Twitch: {lines:?}"
    );
}

#[tokio::test]
async fn a_scope_taken_back_since_sign_in_falls_back_to_chat_after_one_try() {
    let granted = ["chat:read", "moderator:manage:chat_messages"];
    let mut b = bot_saving(Some(&granted), Some(&[WARNINGS_SCOPE])).await;
    assert!(b.outputs.enforcer.as_ref().unwrap().native_warnings());
    b.post_links(VIEWER_ID, "viewer_one", 2);
    b.until("the refused warning goes to chat", |b| {
        b.chat_lines.lock().unwrap().len() == 1
    })
    .await;
    assert!(!b.outputs.enforcer.as_ref().unwrap().native_warnings());
    b.post_links("4000", "viewer_two", 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.warning_calls() <= 2,
        "one try (and its retry after a token refresh), then no more"
    );
    assert!(b.api.warnings().is_empty());
}

#[tokio::test]
async fn without_the_scope_warnings_stay_in_chat_and_twitch_is_not_asked() {
    let mut b = bot(Some(&[
        "chat:read",
        "chat:edit",
        "moderator:manage:banned_users",
        "moderator:manage:chat_messages",
    ]))
    .await;
    assert!(!b.outputs.enforcer.as_ref().unwrap().native_warnings());
    b.post_links(VIEWER_ID, "viewer_one", 2);
    b.until("the delete reaches Twitch", |b| {
        b.api
            .requests()
            .iter()
            .any(|r| r.path == "/moderation/chat")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.warning_calls(), 0);
}

#[tokio::test]
async fn the_simulator_checks_warnings_as_twitch_does() {
    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let (full, _) = api.issue_tokens(BOT_ID);
    let (narrow, _) = api.issue_tokens_with_scopes(BOT_ID, &["chat:read"]);
    let http = reqwest::Client::new();
    let url = format!("{}/moderation/warnings", api.helix_url());
    let send = |token: &str, moderator: &str, user: &str, reason: String| {
        http.post(&url)
            .bearer_auth(token)
            .header("Client-Id", "fakeclient")
            .query(&[
                ("broadcaster_id", BROADCASTER_ID),
                ("moderator_id", moderator),
            ])
            .json(&serde_json::json!({"data": {"user_id": user, "reason": reason}}))
            .send()
    };
    let ok = send(&full, BOT_ID, VIEWER_ID, "no links".into())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["data"][0]["user_id"], VIEWER_ID);
    assert_eq!(body["data"][0]["moderator_id"], BOT_ID);
    assert_eq!(body["data"][0]["broadcaster_id"], BROADCASTER_ID);
    assert_eq!(body["data"][0]["reason"], "no links");

    let status = |r: reqwest::Response| r.status().as_u16();
    let no_scope = send(&narrow, BOT_ID, VIEWER_ID, "x".into()).await.unwrap();
    assert_eq!(status(no_scope), 401, "the scope is required");
    let long = send(&full, BOT_ID, VIEWER_ID, "x".repeat(501))
        .await
        .unwrap();
    assert_eq!(status(long), 400, "a reason is at most 500 characters");
    let exact = send(&full, BOT_ID, VIEWER_ID, "é".repeat(500))
        .await
        .unwrap();
    assert_eq!(status(exact), 200, "500 characters, not bytes");
    let nobody = send(&full, BOT_ID, "999999", "x".into()).await.unwrap();
    assert_eq!(status(nobody), 400, "the user must exist");
    let other = send(&full, BROADCASTER_ID, VIEWER_ID, "x".into())
        .await
        .unwrap();
    assert_eq!(status(other), 401, "moderator_id is the token's user");
    api.set_moderator(BOT_ID, false);
    let not_mod = send(&full, BOT_ID, VIEWER_ID, "x".into()).await.unwrap();
    assert_eq!(status(not_mod), 403, "only moderators may warn");
    assert_eq!(api.warnings().len(), 2);
}
