//! USERNOTICE: subs, gifts, raids, announcements and the like into [`UserNotice`].
//!
//! Decisions worth knowing:
//! - `sharedchatnotice` (Shared Chat: something happened in another channel of the session) is
//!   decoded as the kind named by its `source-msg-id` tag, reading the same `msg-param-*` tags,
//!   so a sub in the partner channel reads as a sub. `source_room_id` then names the other
//!   channel: like a Shared Chat PRIVMSG, such a notice is for the log only and must not pay
//!   points or run reactions. Without `source-msg-id` it stays `Other { msg_id:
//!   "sharedchatnotice" }`.
//! - `SubGift::months` is the number of months gifted (`msg-param-gift-months`, 1 when absent),
//!   not the recipient's running total.
//! - The older `anonsubgift` / `anonsubmysterygift` ids map to `SubGift` / `SubMysteryGift`
//!   (their sender is Twitch's anonymous gifter account).
//! - Any other id, known to Twitch or not, is kept as `Other { msg_id }`.

use compact_str::CompactString;

use super::decode::{self, KnownTags, nonempty, number, unescape};
use super::line::IrcLine;
use crate::event::{SubTier, UserNotice, UserNoticeKind};

/// `USERNOTICE #channel [:message]`; `None` without a channel or a `msg-id`.
pub(crate) fn user_notice(line: &IrcLine<'_>) -> Option<UserNotice> {
    let mut params = line.params();
    let channel = decode::channel(params.next())?;
    let text = params.next().map(str::to_string);
    let tags = KnownTags::of(line);
    let msg_id = nonempty(tags.msg_id)?;
    let kind_id = match msg_id {
        "sharedchatnotice" => {
            nonempty(line.tag("source-msg-id").map(|v| v.raw())).unwrap_or(msg_id)
        }
        other => other,
    };
    let sender = tags.chatter(tags.login.unwrap_or_default());
    let kind = kind(line, kind_id, &sender.display_name);
    Some(UserNotice {
        id: tags.id.map(unescape).unwrap_or_default(),
        channel,
        room_id: tags.room_id.map(unescape).unwrap_or_default(),
        sender,
        kind,
        system_msg: tags
            .system_msg
            .map(decode::unescape_string)
            .unwrap_or_default(),
        text,
        source_room_id: nonempty(tags.source_room_id).map(CompactString::new),
        sent_ms: number(tags.tmi_sent_ts).unwrap_or(0),
    })
}

/// The kind named `msg_id`, with its `msg-param-*` values.
fn kind(line: &IrcLine<'_>, msg_id: &str, sender_display_name: &str) -> UserNoticeKind {
    // Notices are rare next to chat, so a lookup per parameter is fine here.
    let param = |name: &str| line.tag(name).map(|v| v.raw());
    let tier = || SubTier::parse(param("msg-param-sub-plan").unwrap_or_default());
    let count = |name: &str| number::<u32>(param(name));
    let text = |name: &str| param(name).map(unescape).unwrap_or_default();
    match msg_id {
        "sub" => UserNoticeKind::Sub {
            tier: tier(),
            months: count("msg-param-cumulative-months")
                .or_else(|| count("msg-param-months"))
                .unwrap_or(1)
                .max(1),
        },
        "resub" => UserNoticeKind::Resub {
            tier: tier(),
            months: count("msg-param-cumulative-months")
                .or_else(|| count("msg-param-months"))
                .unwrap_or(0),
            streak: count("msg-param-streak-months").unwrap_or(0),
        },
        "subgift" | "anonsubgift" => UserNoticeKind::SubGift {
            tier: tier(),
            recipient_id: text("msg-param-recipient-id"),
            recipient_login: text("msg-param-recipient-user-name"),
            recipient_display_name: text("msg-param-recipient-display-name"),
            months: count("msg-param-gift-months").unwrap_or(1),
        },
        "submysterygift" | "anonsubmysterygift" => UserNoticeKind::SubMysteryGift {
            tier: tier(),
            count: count("msg-param-mass-gift-count").unwrap_or(1),
        },
        "giftpaidupgrade" => UserNoticeKind::GiftPaidUpgrade {
            gifter_login: text("msg-param-sender-login"),
        },
        "anongiftpaidupgrade" => UserNoticeKind::AnonGiftPaidUpgrade,
        "primepaidupgrade" => UserNoticeKind::PrimePaidUpgrade { tier: tier() },
        "raid" => UserNoticeKind::Raid {
            viewers: count("msg-param-viewerCount").unwrap_or(0),
            from_display_name: match nonempty(param("msg-param-displayName")) {
                Some(name) => unescape(name),
                None => CompactString::new(sender_display_name),
            },
        },
        "unraid" => UserNoticeKind::Unraid,
        "announcement" => UserNoticeKind::Announcement {
            color: nonempty(param("msg-param-color"))
                .map(unescape)
                .unwrap_or_else(|| CompactString::const_new("PRIMARY")),
        },
        "bitsbadgetier" => UserNoticeKind::BitsBadgeTier {
            threshold: count("msg-param-threshold").unwrap_or(0),
        },
        "ritual" => UserNoticeKind::Ritual {
            name: text("msg-param-ritual-name"),
        },
        other => UserNoticeKind::Other {
            msg_id: unescape(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Badge, Chatter, Event, Roles};
    use crate::twitch::irc::{Incoming, interpret};

    fn notice(raw: &str) -> UserNotice {
        match interpret(&IrcLine::parse(raw).unwrap()) {
            Incoming::Event(Event::UserNotice(n)) => *n,
            other => panic!("not a user notice: {other:?}"),
        }
    }

    fn kind_of(raw: &str) -> UserNoticeKind {
        notice(raw).kind
    }

    /// A resub as Twitch's tag reference shows it, with the user's own message.
    #[test]
    fn resub_with_message_whole_struct() {
        let n = notice(
            "@badge-info=;badges=staff/1,broadcaster/1,turbo/1;color=#008000;\
             display-name=ronni;emotes=;id=db25007f-7a18-43eb-9379-80131e44d633;\
             login=ronni;mod=0;msg-id=resub;msg-param-cumulative-months=6;\
             msg-param-streak-months=2;msg-param-should-share-streak=1;\
             msg-param-sub-plan=Prime;msg-param-sub-plan-name=Prime;room-id=12345678;\
             subscriber=1;system-msg=ronni\\shas\\ssubscribed\\sfor\\s6\\smonths!;\
             tmi-sent-ts=1507246572675;turbo=1;user-id=87654321;user-type=staff \
             :tmi.twitch.tv USERNOTICE #dallas :Great stream -- keep it up!",
        );
        let mut roles = Roles::empty();
        for r in [
            Roles::STAFF,
            Roles::BROADCASTER,
            Roles::TURBO,
            Roles::SUBSCRIBER,
        ] {
            roles.insert(r);
        }
        assert_eq!(
            n,
            UserNotice {
                id: "db25007f-7a18-43eb-9379-80131e44d633".into(),
                channel: "dallas".into(),
                room_id: "12345678".into(),
                sender: Chatter {
                    id: "87654321".into(),
                    login: "ronni".into(),
                    display_name: "ronni".into(),
                    roles,
                    badges: vec![
                        Badge {
                            name: "staff".into(),
                            version: "1".into()
                        },
                        Badge {
                            name: "broadcaster".into(),
                            version: "1".into()
                        },
                        Badge {
                            name: "turbo".into(),
                            version: "1".into()
                        },
                    ],
                    color: Some("#008000".into()),
                },
                kind: UserNoticeKind::Resub {
                    tier: SubTier::Prime,
                    months: 6,
                    streak: 2
                },
                system_msg: "ronni has subscribed for 6 months!".into(),
                text: Some("Great stream -- keep it up!".into()),
                source_room_id: None,
                sent_ms: 1507246572675,
            }
        );
    }

    #[test]
    fn first_sub_without_message() {
        let n = notice(
            "@badge-info=subscriber/0;badges=moderator/1,subscriber/0,premium/1;color=#2226B2;\
             display-name=burago18;emotes=;flags=;id=229ecd51-1ec2-4dda-ae43-6ac4058a25a3;\
             login=burago18;mod=1;msg-id=sub;msg-param-cumulative-months=1;msg-param-months=0;\
             msg-param-should-share-streak=0;\
             msg-param-sub-plan-name=Channel\\sSubscription\\s(yourchannel);\
             msg-param-sub-plan=1000;room-id=36476430;subscriber=1;\
             system-msg=burago18\\ssubscribed\\sat\\sTier\\s1.;tmi-sent-ts=1574904233310;\
             user-id=44812924;user-type=mod :tmi.twitch.tv USERNOTICE #yourchannel",
        );
        assert_eq!(
            n.kind,
            UserNoticeKind::Sub {
                tier: SubTier::Tier1,
                months: 1
            }
        );
        assert_eq!(n.text, None);
        assert_eq!(n.system_msg, "burago18 subscribed at Tier 1.");
        assert_eq!(n.sender.login, "burago18");
        assert!(n.sender.roles.contains(Roles::MODERATOR));
    }

    #[test]
    fn subgift_names_the_recipient() {
        assert_eq!(
            kind_of(
                "@badge-info=;badges=staff/1,premium/1;color=#0000FF;display-name=TWW2;emotes=;\
                 id=e9176cd8-5e22-4684-ad40-ce53c2561c5e;login=tww2;mod=0;msg-id=subgift;\
                 msg-param-months=1;msg-param-recipient-display-name=Mr_Woodchuck;\
                 msg-param-recipient-id=55554444;msg-param-recipient-user-name=mr_woodchuck;\
                 msg-param-sub-plan-name=House\\sof\\sNyoro~n;msg-param-sub-plan=2000;\
                 msg-param-gift-months=3;room-id=19571752;subscriber=0;\
                 system-msg=TWW2\\sgifted\\sa\\sTier\\s2\\ssub\\sto\\sMr_Woodchuck!;\
                 tmi-sent-ts=1521159445153;turbo=0;user-id=13405587;user-type=staff \
                 :tmi.twitch.tv USERNOTICE #forstycup"
            ),
            UserNoticeKind::SubGift {
                tier: SubTier::Tier2,
                recipient_id: "55554444".into(),
                recipient_login: "mr_woodchuck".into(),
                recipient_display_name: "Mr_Woodchuck".into(),
                months: 3,
            }
        );
    }

    #[test]
    fn anonymous_gift_and_mystery_gift() {
        let anon = notice(
            "@badges=;display-name=AnAnonymousGifter;id=1;login=ananonymousgifter;\
             msg-id=anonsubgift;msg-param-recipient-display-name=Lucky;\
             msg-param-recipient-id=42;msg-param-recipient-user-name=lucky;\
             msg-param-sub-plan=1000;room-id=7;system-msg=An\\sanonymous\\suser\\sgifted;\
             user-id=274598607 :tmi.twitch.tv USERNOTICE #c",
        );
        assert_eq!(anon.sender.login, "ananonymousgifter");
        assert!(matches!(
            anon.kind,
            UserNoticeKind::SubGift { months: 1, .. }
        ));
        assert_eq!(
            kind_of(
                "@badges=subscriber/12;display-name=Generous;id=2;login=generous;\
                 msg-id=submysterygift;msg-param-mass-gift-count=20;msg-param-origin-id=abc;\
                 msg-param-sender-count=120;msg-param-sub-plan=3000;room-id=7;\
                 system-msg=Generous\\sis\\sgifting\\s20\\sTier\\s3\\sSubs!;user-id=8 \
                 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::SubMysteryGift {
                tier: SubTier::Tier3,
                count: 20
            }
        );
    }

    #[test]
    fn paid_upgrades() {
        assert_eq!(
            kind_of(
                "@display-name=Upgrader;id=3;login=upgrader;msg-id=giftpaidupgrade;\
                 msg-param-sender-login=santa;msg-param-sender-name=Santa;room-id=7;\
                 system-msg=Upgrader\\sis\\scontinuing;user-id=9 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::GiftPaidUpgrade {
                gifter_login: "santa".into()
            }
        );
        assert_eq!(
            kind_of(
                "@display-name=U2;id=4;login=u2;msg-id=anongiftpaidupgrade;room-id=7;\
                 user-id=10 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::AnonGiftPaidUpgrade
        );
        assert_eq!(
            kind_of(
                "@display-name=U3;id=5;login=u3;msg-id=primepaidupgrade;msg-param-sub-plan=1000;\
                 room-id=7;user-id=11 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::PrimePaidUpgrade {
                tier: SubTier::Tier1
            }
        );
    }

    #[test]
    fn raid_and_unraid() {
        let raid = notice(
            "@badge-info=;badges=turbo/1;color=#9ACD32;display-name=TestChannel;emotes=;\
             id=3d830f12-795c-447d-af3c-ea05e40fbddb;login=testchannel;mod=0;msg-id=raid;\
             msg-param-displayName=TestChannel;msg-param-login=testchannel;\
             msg-param-viewerCount=15;room-id=33332222;subscriber=0;\
             system-msg=15\\sraiders\\sfrom\\sTestChannel\\shave\\sjoined\\n!;\
             tmi-sent-ts=1507246572675;turbo=1;user-id=123456;user-type= \
             :tmi.twitch.tv USERNOTICE #othertestchannel",
        );
        assert_eq!(
            raid.kind,
            UserNoticeKind::Raid {
                viewers: 15,
                from_display_name: "TestChannel".into()
            }
        );
        assert_eq!(
            raid.system_msg,
            "15 raiders from TestChannel have joined\n!"
        );
        assert_eq!(raid.channel, "othertestchannel");
        assert_eq!(
            kind_of(
                "@id=6;login=r;msg-id=unraid;room-id=7;system-msg=The\\sraid\\shas\\sbeen\\scanceled. \
                 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::Unraid
        );
    }

    #[test]
    fn announcement_carries_its_colour_and_text() {
        let n = notice(
            "@badge-info=;badges=broadcaster/1;color=;display-name=Streamer;emotes=;\
             id=f7c5d1c1-0000-4000-8000-000000000007;login=streamer;mod=0;msg-id=announcement;\
             msg-param-color=PURPLE;room-id=7;subscriber=0;system-msg=;tmi-sent-ts=1;\
             user-id=7;user-type= :tmi.twitch.tv USERNOTICE #streamer :Giveaway at 8pm!",
        );
        assert_eq!(
            n.kind,
            UserNoticeKind::Announcement {
                color: "PURPLE".into()
            }
        );
        assert_eq!(n.text.as_deref(), Some("Giveaway at 8pm!"));
        assert_eq!(n.sender.roles, Roles::BROADCASTER);
        assert_eq!(
            kind_of("@login=s;msg-id=announcement;room-id=7 :tmi.twitch.tv USERNOTICE #c :hi"),
            UserNoticeKind::Announcement {
                color: "PRIMARY".into()
            }
        );
    }

    #[test]
    fn bits_badge_tier_and_ritual() {
        assert_eq!(
            kind_of(
                "@display-name=Cheerer;id=8;login=cheerer;msg-id=bitsbadgetier;\
                 msg-param-threshold=1000;room-id=7;\
                 system-msg=bits\\sbadge\\stier\\snotification;user-id=12 \
                 :tmi.twitch.tv USERNOTICE #c"
            ),
            UserNoticeKind::BitsBadgeTier { threshold: 1000 }
        );
        let ritual = notice(
            "@badge-info=;badges=;color=;display-name=SevenTest1;emotes=30259:0-6;id=37feed0f;\
             login=seventest1;mod=0;msg-id=ritual;msg-param-ritual-name=new_chatter;\
             room-id=87654321;subscriber=0;\
             system-msg=Seventoes\\sis\\snew\\shere!;tmi-sent-ts=1508363903826;turbo=0;\
             user-id=77776666;user-type= :tmi.twitch.tv USERNOTICE #seventoes :HeyGuys",
        );
        assert_eq!(
            ritual.kind,
            UserNoticeKind::Ritual {
                name: "new_chatter".into()
            }
        );
        assert_eq!(ritual.text.as_deref(), Some("HeyGuys"));
    }

    #[test]
    fn unknown_kind_is_kept_with_its_id() {
        let n = notice(
            "@badge-info=;badges=;color=;display-name=Viewer;id=9;login=viewer;\
             msg-id=viewermilestone;msg-param-category=watch-streak;msg-param-value=5;\
             room-id=7;system-msg=Viewer\\swatched\\s5\\sconsecutive\\sstreams;user-id=13 \
             :tmi.twitch.tv USERNOTICE #c :still here",
        );
        assert_eq!(
            n.kind,
            UserNoticeKind::Other {
                msg_id: "viewermilestone".into()
            }
        );
        assert_eq!(n.system_msg, "Viewer watched 5 consecutive streams");
        assert_eq!(n.text.as_deref(), Some("still here"));
    }

    #[test]
    fn shared_chat_notice_decodes_its_source_kind() {
        let n = notice(
            "@badge-info=;badges=;color=#8A2BE2;display-name=Partner;emotes=;flags=;\
             id=11111111-2222-3333-4444-555555555555;login=partner;mod=0;\
             msg-id=sharedchatnotice;msg-param-cumulative-months=13;\
             msg-param-streak-months=0;msg-param-sub-plan=1000;\
             msg-param-should-share-streak=0;room-id=100;source-badge-info=subscriber/13;\
             source-badges=subscriber/12;source-id=aaaa;source-msg-id=resub;\
             source-room-id=200;subscriber=0;\
             system-msg=Partner\\ssubscribed\\sat\\sTier\\s1.;tmi-sent-ts=1730000000000;\
             user-id=300;user-type= :tmi.twitch.tv USERNOTICE #host :13 months!",
        );
        assert_eq!(
            n.kind,
            UserNoticeKind::Resub {
                tier: SubTier::Tier1,
                months: 13,
                streak: 0
            }
        );
        assert_eq!(n.source_room_id.as_deref(), Some("200"));
        assert_ne!(n.source_room_id.as_deref(), Some(n.room_id.as_str()));
        // Without a source kind it stays visibly a shared chat notice.
        assert_eq!(
            kind_of("@login=p;msg-id=sharedchatnotice;room-id=1 :tmi.twitch.tv USERNOTICE #c"),
            UserNoticeKind::Other {
                msg_id: "sharedchatnotice".into()
            }
        );
    }

    #[test]
    fn usernotice_missing_what_it_needs_is_ignored() {
        for raw in [
            ":tmi.twitch.tv USERNOTICE #c",
            "@msg-id= :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=sub :tmi.twitch.tv USERNOTICE",
            "@msg-id=sub :tmi.twitch.tv USERNOTICE notachannel",
        ] {
            assert_eq!(
                interpret(&IrcLine::parse(raw).unwrap()),
                Incoming::Ignored,
                "{raw:?}"
            );
        }
    }
}
