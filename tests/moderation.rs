//! Moderation as a viewer and a moderator see it: disguised words and links are caught,
//! innocent messages are not, the ladder climbs and decays, exemptions, dry run, `!modcheck`
//! and `!permit`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use twitch_bot::action::Action;
use twitch_bot::config::moderation::{Ladder, ModerationConfig, Pattern, Step};
use twitch_bot::event::{ChatMessage, Chatter, EmoteRange, Roles};
use twitch_bot::moderation::{Filter, Moderator, Verdict};

fn config() -> ModerationConfig {
    let mut c = ModerationConfig::default();
    c.banned.terms = ["bad", "ass", "idiot", "loser", "shit", "free views"]
        .map(String::from)
        .to_vec();
    c.banned.substrings = vec!["badword".into()];
    c.banned.regexes = vec![Pattern::new(r"fr[e3]{2}\s*f[o0]ll[o0]wers").unwrap()];
    c.regulars = vec!["regular_rita".into()];
    c
}

fn chatter(login: &str, roles: Roles) -> Chatter {
    Chatter::test(login).roles(roles)
}

fn msg_from(sender: Chatter, text: &str) -> ChatMessage {
    ChatMessage::test("", text)
        .id("msg-1")
        .in_channel("streamer", "1")
        .sender(sender)
}

fn msg(text: &str) -> ChatMessage {
    msg_from(chatter("viewer", Roles::empty()), text)
}

fn filter_of(v: &Verdict) -> Option<Filter> {
    match v {
        Verdict::Pass => None,
        Verdict::Caught(d) => Some(d.filter),
    }
}

/// Twitch emote ranges for every space-separated word of `text` (ASCII).
fn all_words_emotes(text: &str) -> Vec<EmoteRange> {
    let mut out = Vec::new();
    let mut at = 0u32;
    for w in text.split(' ') {
        let len = u32::try_from(w.len()).unwrap();
        out.push(EmoteRange {
            id: "25".into(),
            start: at,
            end: at + len - 1,
        });
        at += len + 1;
    }
    out
}

use Filter::{Banned, Caps, Emotes, Length, Links, Repetition, Symbols};

#[test]
fn every_disguise_is_caught_and_innocent_messages_pass() {
    let b = Some(Banned);
    let l = Some(Links);
    let cases: Vec<(&str, &str, Option<Filter>)> = vec![
        // plain
        ("plain word", "you are bad", b),
        ("upper case", "you are BAD", b),
        ("multi-word term", "get free views here", b),
        ("substring", "xxbadwordxx", b),
        ("regex", "get free followers now", b),
        ("regex after leet", "fr33 f0ll0wers", b),
        // lookalikes: Cyrillic, Greek, fullwidth, mathematical, enclosed
        ("cyrillic a", "you are b\u{430}d", b),
        ("cyrillic i", "\u{456}diot", b),
        ("cyrillic dze", "\u{455}hit", b),
        ("cyrillic capitals", "\u{412}\u{410}D", b),
        ("greek small", "\u{3b9}di\u{3bf}t", b),
        ("greek capitals", "\u{392}\u{391}D", b),
        ("fullwidth", "\u{ff42}\u{ff41}\u{ff44}", b),
        ("fullwidth capitals", "\u{ff22}\u{ff21}\u{ff24}", b),
        ("math bold", "\u{1d41b}\u{1d41a}\u{1d41d}", b),
        ("math fraktur", "\u{1d51f}\u{1d51e}\u{1d521}", b),
        ("math monospace", "\u{1d68b}\u{1d68a}\u{1d68d}", b),
        ("circled", "\u{24d1}\u{24d0}\u{24d3}", b),
        // leetspeak
        ("leet 1 as i", "sh1t", b),
        ("leet digits", "1d10t", b),
        ("leet 4", "b4d", b),
        ("leet dollars", "a$$", b),
        ("leet at", "b@d", b),
        ("leet 5 and 7", "5h17", b),
        ("leet 1 as l", "1oser", b),
        ("leet 0", "l0ser", b),
        // invisible characters
        ("zero-width space", "b\u{200b}a\u{200b}d", b),
        ("zero-width joiner", "ba\u{200d}d", b),
        ("byte order mark", "b\u{feff}ad", b),
        ("soft hyphen", "b\u{ad}ad", b),
        ("word joiner", "sh\u{2060}it", b),
        // spacing
        ("spaced", "b a d", b),
        ("dotted", "b.a.d", b),
        ("underscored", "b_a_d", b),
        ("dashed", "b-a-d", b),
        ("spaced leet", "s h 1 t", b),
        ("spaced after an article", "you are a b a d person", b),
        ("fullwidth spaced", "\u{ff53} \u{ff48} \u{ff49} \u{ff54}", b),
        // zalgo and accents
        (
            "zalgo",
            "b\u{337}\u{31b}a\u{336}\u{360}d\u{335}\u{30f}\u{34a}",
            b,
        ),
        ("accents", "b\u{e0}d", b),
        ("stacked marks", "i\u{301}\u{302}\u{303}\u{304}diot", b),
        // links
        ("bare domain", "check example.com", l),
        ("dot word", "example dot com", l),
        ("parenthesised dot", "example(.)com", l),
        ("bracketed dot", "example [.] com", l),
        ("spaced dot", "example . com", l),
        ("scheme", "https://evil.test/x", l),
        ("www", "www.example.org", l),
        (
            "fullwidth domain",
            "\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}\u{ff0e}\u{ff43}\u{ff4f}\u{ff4d}",
            l,
        ),
        ("cyrillic in domain", "ex\u{430}mple.com", l),
        ("lookalike of allowed", "evil-twitch.tv", l),
        ("capitals", "VISIT MYSITE.NET", l),
        ("allowed", "twitch.tv/somebody", None),
        ("allowed subdomain", "clips.twitch.tv/abc", None),
        // innocent
        ("word containing term", "nice badge", None),
        ("class", "first class", None),
        ("bass", "bass guitar", None),
        ("badminton", "badminton later?", None),
        ("assassin", "assassin creed", None),
        ("shitake", "shitake mushrooms", None),
        ("single letters", "I am a big fan", None),
        ("decimal", "it costs 12.5 dollars", None),
        ("time", "see you at 3.30", None),
        ("version", "version 1.2.3 is out", None),
        ("e.g.", "e.g. this one", None),
        ("i.e.", "i.e. that one", None),
        ("sentence end", "the end. Next time", None),
        ("ellipsis", "wait... what", None),
        ("percent", "I scored 100%", None),
        ("4Head", "4Head", None),
        ("greeting", "hello chat, how are you doing today?", None),
        (
            "accented word",
            "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e",
            None,
        ),
        (
            "russian",
            "\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}",
            None,
        ),
        // other filters
        ("caps", "THIS IS SO LOUD RIGHT NOW", Some(Caps)),
        ("symbols", "!!!!!####%%%%^^^^&&&&", Some(Symbols)),
        ("stretched", "aaaaaaaaaaaaaaaaaaaa", Some(Repetition)),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, text, want) in &cases {
        let mut m = Moderator::new(&config()).unwrap();
        let got = m.check(&msg(text), Instant::now());
        if filter_of(&got) != *want {
            failures.push(format!("{name}: {text:?} gave {got:?}, wanted {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn length_emotes_and_emote_aware_caps() {
    let mut m = Moderator::new(&config()).unwrap();
    let long = "word ".repeat(90);
    assert_eq!(
        filter_of(&m.check(&msg(&long), Instant::now())),
        Some(Length)
    );

    // Twitch emotes: capitals inside emotes do not count as shouting, but too many emotes do.
    let shouty_emotes = "LUL LUL LUL LUL LUL LUL LUL hi";
    let mut e = msg(shouty_emotes);
    e.emotes = all_words_emotes("LUL LUL LUL LUL LUL LUL LUL");
    let mut m = Moderator::new(&config()).unwrap();
    assert_eq!(m.check(&e, Instant::now()), Verdict::Pass);
    let many = ["Kappa"; 16].join(" ");
    let mut e = msg(&many);
    e.emotes = all_words_emotes(&many);
    assert_eq!(filter_of(&m.check(&e, Instant::now())), Some(Emotes));

    // Third-party emotes come from the lookup the Helix side supplies.
    let mut m = Moderator::new(&config()).unwrap();
    m.set_emotes(Arc::new(|w: &str| w == "catJAM"));
    let cats = ["catJAM"; 16].join(" ");
    assert_eq!(
        filter_of(&m.check(&msg(&cats), Instant::now())),
        Some(Emotes)
    );
    let few = ["catJAM"; 3].join(" ");
    assert_eq!(m.check(&msg(&few), Instant::now()), Verdict::Pass);

    // Capitals inside third-party emotes are not shouting either; capitals outside still are.
    let mut m = Moderator::new(&config()).unwrap();
    m.set_emotes(Arc::new(|w: &str| w == "OMEGALUL"));
    let t = Instant::now();
    assert_eq!(
        m.check(&msg("OMEGALUL OMEGALUL OMEGALUL hi"), t),
        Verdict::Pass
    );
    let shout = msg("OMEGALUL THIS IS SO LOUD RIGHT NOW");
    assert_eq!(filter_of(&m.check(&shout, t)), Some(Caps));
}

#[tokio::test(start_paused = true)]
async fn the_ladder_climbs_with_each_offence_and_decays() {
    let mut m = Moderator::new(&config()).unwrap();
    let mut steps = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(20)).await;
        match m.check(&msg("you are bad"), Instant::now()) {
            Verdict::Caught(d) => {
                steps.push(d.step);
                actions.push(d.actions);
            }
            Verdict::Pass => panic!("a banned word passed"),
        }
    }
    assert_eq!(
        steps,
        [
            Step::Delete,
            Step::Warn,
            Step::Timeout(60),
            Step::Timeout(600),
            Step::Ban,
            Step::Ban
        ]
    );
    assert_eq!(
        actions[0],
        [Action::Delete {
            channel: "streamer".into(),
            message_id: "msg-1".into()
        }]
    );
    assert_eq!(
        actions[1][1],
        Action::Say {
            channel: "streamer".into(),
            text: "VIEWER, that word is not allowed here.".into()
        }
    );
    assert!(matches!(
        &actions[2][..],
        [Action::Timeout { seconds: 60, user_id, .. }] if user_id == "id-viewer"
    ));
    assert!(matches!(&actions[4][..], [Action::Ban { user_id, .. }] if user_id == "id-viewer"));

    // 24 hours after the last offence it is forgotten: back to the first step.
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    let Verdict::Caught(d) = m.check(&msg("you are bad"), Instant::now()) else {
        panic!("not caught");
    };
    assert_eq!(d.step, Step::Ban, "23 h later the offences still count");
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    let Verdict::Caught(d) = m.check(&msg("you are bad"), Instant::now()) else {
        panic!("not caught");
    };
    assert_eq!((d.offence, d.step), (1, Step::Delete));
}

#[tokio::test(start_paused = true)]
async fn filters_can_share_a_ladder_or_climb_their_own() {
    let mut c = config();
    c.ladders.insert(
        "links".into(),
        Ladder {
            decay_hours: 1,
            steps: vec![Step::Timeout(30)],
        },
    );
    let mut m = Moderator::new(&c).unwrap();
    // Banned and caps share `default`: the second offence (a different filter) warns.
    let now = Instant::now();
    let first = m.check(&msg("bad"), now);
    let second = m.check(&msg("THIS IS SO LOUD RIGHT NOW"), now);
    let step = |v: &Verdict| match v {
        Verdict::Caught(d) => Some(d.step),
        Verdict::Pass => None,
    };
    assert_eq!(step(&first), Some(Step::Delete));
    assert_eq!(step(&second), Some(Step::Warn));

    c.links.ladder = "links".into();
    m.reconfigure(&c).unwrap();
    // The reload kept the offences on `default`, and links climb their own ladder.
    assert_eq!(
        step(&m.check(&msg("example.com"), now)),
        Some(Step::Timeout(30))
    );
    assert_eq!(step(&m.check(&msg("bad"), now)), Some(Step::Timeout(60)));
}

#[tokio::test(start_paused = true)]
async fn flood_and_repeated_messages_are_counted_per_user_over_time() {
    let mut m = Moderator::new(&config()).unwrap();
    let now = Instant::now();
    for i in 0..6 {
        assert_eq!(m.check(&msg(&format!("message {i}")), now), Verdict::Pass);
    }
    assert_eq!(
        filter_of(&m.check(&msg("message 7"), now)),
        Some(Filter::Flood)
    );
    // Another viewer is not slowed by the first one's flood.
    let other = msg_from(chatter("other", Roles::empty()), "hi");
    assert_eq!(m.check(&other, now), Verdict::Pass);

    let mut m = Moderator::new(&config()).unwrap();
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(m.check(&msg("same thing"), Instant::now()), Verdict::Pass);
    }
    tokio::time::advance(Duration::from_secs(4)).await;
    // A lookalike or an invisible character does not make it a different message.
    let sneaky = msg("same thin\u{261}\u{e0000}");
    assert_eq!(
        filter_of(&m.check(&sneaky, Instant::now())),
        Some(Repetition)
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(m.check(&msg("same thing"), Instant::now()), Verdict::Pass);
}

#[test]
fn exemptions_follow_roles_and_regulars() {
    let now = Instant::now();
    let check = |login: &str, roles: Roles, text: &str| {
        let mut m = Moderator::new(&config()).unwrap();
        filter_of(&m.check(&msg_from(chatter(login, roles), text), now))
    };
    // Broadcaster and moderators: always exempt.
    assert_eq!(
        check("streamer", Roles::BROADCASTER, "bad example.com"),
        None
    );
    assert_eq!(check("mod", Roles::MODERATOR, "bad example.com"), None);
    // VIPs may post links (default `exempt: [vip, regular]`) but not banned words.
    assert_eq!(check("vip", Roles::VIP, "see example.com"), None);
    assert_eq!(check("vip", Roles::VIP, "bad"), Some(Banned));
    // Regulars listed by login.
    assert_eq!(
        check("regular_rita", Roles::empty(), "see example.com"),
        None
    );
    assert_eq!(
        check("viewer", Roles::empty(), "see example.com"),
        Some(Links)
    );
    // Regulars from the bot's list (by account id: the dispatcher marks their messages).
    assert_eq!(
        check("regular_rob", Roles::REGULAR, "see example.com"),
        None
    );
    // Subscribers are exempt from the emote limit by default, not from caps.
    let many = ["Kappa"; 16].join(" ");
    let mut m = Moderator::new(&config()).unwrap();
    let mut e = msg_from(chatter("sub", Roles::SUBSCRIBER), &many);
    e.emotes = all_words_emotes(&many);
    assert_eq!(m.check(&e, now), Verdict::Pass);
    assert_eq!(
        check("sub", Roles::SUBSCRIBER, "THIS IS SO LOUD RIGHT NOW"),
        Some(Caps)
    );
    // A switched-off filter and the master switch.
    let mut c = config();
    c.links.enabled = false;
    let mut m = Moderator::new(&c).unwrap();
    assert_eq!(m.check(&msg("example.com"), now), Verdict::Pass);
    let mut c = config();
    c.enabled = false;
    let mut m = Moderator::new(&c).unwrap();
    assert_eq!(m.check(&msg("bad"), now), Verdict::Pass);
}

#[test]
fn dry_run_reports_what_would_happen_and_does_nothing() {
    let mut c = config();
    c.dry_run = true;
    let mut m = Moderator::new(&c).unwrap();
    let now = Instant::now();
    let Verdict::Caught(d) = m.check(&msg("b.a.d"), now) else {
        panic!("dry run must still report");
    };
    assert!(d.dry_run);
    assert!(d.actions.is_empty());
    assert_eq!((d.filter, d.step), (Banned, Step::Delete));
    assert_eq!(d.normalized, "bad");
    let entry = d.log_entry(&msg("b.a.d"), 1_700_000_000_000);
    assert!(entry.dry_run);
    assert_eq!(entry.rule, "term \"bad\"");
    assert_eq!(entry.user_login, "viewer");
    assert_eq!(entry.punishment, Step::Delete);

    // Switching dry run off forgets what was only logged.
    let Verdict::Caught(d) = m.check(&msg("bad"), now) else {
        panic!()
    };
    assert_eq!(d.step, Step::Warn);
    c.dry_run = false;
    m.reconfigure(&c).unwrap();
    let Verdict::Caught(d) = m.check(&msg("bad"), now) else {
        panic!()
    };
    assert_eq!((d.step, d.dry_run), (Step::Delete, false));
    assert_eq!(d.actions.len(), 1);
}

#[test]
fn modcheck_explains_which_rule_fires_on_the_normalised_text() {
    let m = Moderator::new(&config()).unwrap();
    let e = m.explain("y o u  are  ｂ.ａ.ｄ").unwrap();
    assert_eq!(e.filter, Banned);
    assert_eq!(e.rule, "term \"bad\"");
    assert_eq!(e.normalized, "you are bad");
    assert_eq!(
        e.to_string(),
        "banned filter, rule term \"bad\": the word \"bad\" appears (normalised text: \"you are bad\")"
    );
    let e = m.explain("example dot com").unwrap();
    assert_eq!(
        (e.filter, e.rule.as_str()),
        (Links, "disguised domain example.com")
    );
    let e = m.explain("sh1t").unwrap();
    assert_eq!(e.normalized, "shit");
    assert_eq!(m.explain("see you at 3.30, e.g. later"), None);
}

#[tokio::test(start_paused = true)]
async fn permit_lets_one_link_through_within_its_time() {
    let mut m = Moderator::new(&config()).unwrap();
    m.permit("@Viewer", Some(Duration::from_secs(60)));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        m.check(&msg("my clip example.com"), Instant::now()),
        Verdict::Pass
    );
    assert_eq!(
        filter_of(&m.check(&msg("another example.com"), Instant::now())),
        Some(Links),
        "a permit is for one link"
    );

    m.permit("viewer", None); // the config's 60 s
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        filter_of(&m.check(&msg("late example.com"), Instant::now())),
        Some(Links),
        "an expired permit lets nothing through"
    );
}

#[test]
fn the_moderator_can_move_between_tasks() {
    fn send<T: Send + 'static>() {}
    send::<Moderator>();
}

proptest::proptest! {
    /// Whatever number a moderator types after `!permit`, the window is at most a day and
    /// nothing panics (u64::MAX seconds used to overflow `Instant + Duration`).
    #[test]
    fn any_permit_length_is_capped_at_a_day(secs in proptest::prelude::any::<u64>()) {
        let mut m = Moderator::new(&config()).unwrap();
        let granted = m.permit_at("viewer", Some(Duration::from_secs(secs)), Instant::now());
        proptest::prop_assert!(granted <= twitch_bot::moderation::MAX_PERMIT);
        proptest::prop_assert_eq!(granted.as_secs(), secs.min(86_400));
        let edge = m.permit_at("viewer", Some(Duration::MAX), Instant::now());
        proptest::prop_assert_eq!(edge, twitch_bot::moderation::MAX_PERMIT);
    }
}

/// A raid through the real ladder, the action queue and the Helix client against the fake
/// Twitch API: each raider's six lines end in one ban, not one per further line.
#[tokio::test]
async fn raiders_posting_six_spam_lines_are_banned_once_each() {
    use twitch_bot::config::Secrets;
    use twitch_bot::moderation::enforce::{Enforcer, Limits};
    use twitch_bot::sim::helix::{BOT_ID, BROADCASTER_ID};
    use twitch_bot::sim::{FakeApiOptions, FakeTwitchApi};
    use twitch_bot::twitch::auth::{AuthClient, Tokens};
    use twitch_bot::twitch::helix::{ChannelIds, Helix, RetryPolicy};

    let api = FakeTwitchApi::start(FakeApiOptions::default())
        .await
        .expect("fake starts");
    let mut secrets = Secrets {
        client_id: "fakeclient".into(),
        ..Secrets::default()
    };
    (secrets.bot.access_token, secrets.bot.refresh_token) = api.issue_tokens(BOT_ID);
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
    let enforcer = Enforcer::start(helix, Limits::default(), stop.clone());

    let mut m = Moderator::new(&config()).unwrap();
    let raiders = 20;
    let now = Instant::now();
    for line in 0..6 {
        for r in 0..raiders {
            let mut spam = msg_from(chatter(&format!("raider{r}"), Roles::empty()), "free views");
            spam.id = format!("m{r}-{line}").into();
            let Verdict::Caught(d) = m.check(&spam, now) else {
                panic!("spam passed");
            };
            for a in d.actions {
                if !matches!(a, Action::Say { .. }) {
                    enforcer.submit(a, &spam.sender.id);
                }
            }
        }
    }
    let bans = || {
        api.requests()
            .into_iter()
            .filter(|r| r.path == "/moderation/bans" && r.body["data"]["duration"].is_null())
            .map(|r| r.body["data"]["user_id"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bans().len() < raiders && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut banned = bans();
    banned.sort();
    let mut expected: Vec<String> = (0..raiders).map(|r| format!("id-raider{r}")).collect();
    expected.sort();
    assert_eq!(banned, expected, "exactly one ban per raider");
    assert_eq!(enforcer.queued(), 0);
    stop.cancel();
}

/// A flood from more accounts than the filters remember keeps their memory bounded: the
/// chatters seen least recently are forgotten (and counted), and a chatter flooding now is
/// still caught.
#[tokio::test(start_paused = true)]
async fn a_flood_from_more_accounts_than_remembered_keeps_the_filters_memory_bounded() {
    use twitch_bot::moderation::MAX_CHATTERS;
    let mut m = Moderator::new(&config()).unwrap();
    let now = Instant::now();
    let accounts = MAX_CHATTERS + MAX_CHATTERS / 2;
    for i in 0..accounts {
        let viewer = chatter(&format!("raider{i}"), Roles::empty());
        assert_eq!(m.check(&msg_from(viewer, "hello"), now), Verdict::Pass);
        assert!(m.chatters_remembered() <= MAX_CHATTERS);
    }
    assert!(m.chatters_forgotten() >= (accounts - MAX_CHATTERS) as u64);
    let last = || chatter(&format!("raider{}", accounts - 1), Roles::empty());
    let caught = (0..8).any(|i| {
        filter_of(&m.check(&msg_from(last(), &format!("line {i}")), now)) == Some(Filter::Flood)
    });
    assert!(caught, "the chatter flooding now is still counted");
}
