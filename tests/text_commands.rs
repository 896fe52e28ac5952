//! Text commands as moderators and viewers meet them: the whole bot in `--offline` mode (real
//! chat client over loopback, real redb file, real scripts), asserting what chat shows.

#[macro_use]
mod common;

use std::time::Duration;

use common::binary::{BotCommand, Running};
use common::{copy_scripts, offline_settings, start_ready};
use twitch_bot::app::Bot;
use twitch_bot::config::Config;
use twitch_bot::config::bot::ChatTransport;
use twitch_bot::event::Roles;
use twitch_bot::sim::{ClientLine, Viewer};

/// A script only regulars (and up) may run.
const REGULARS_ONLY: (&str, &str) = (
    "commands/backstage.rhai",
    "const PERMISSION = \"regular\";\nfn run(ctx) { ctx.say(`backstage: ${ctx.user.level}`); }\n",
);

async fn start(dir: &std::path::Path, transport: ChatTransport) -> Bot {
    let scripts = dir.join("scripts");
    if !scripts.exists() {
        copy_scripts(dir, &[REGULARS_ONLY]);
    }
    let mut config = Config::default();
    config.bot.chat.transport = transport;
    start_ready(offline_settings(dir, scripts), config).await
}

/// The bot's next chat line that satisfies `pred`.
async fn said(
    rx: &mut tokio::sync::broadcast::Receiver<ClientLine>,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    common::wait_line(rx, 5, |l| l.privmsg().is_some_and(|m| pred(&m.text)))
        .await
        .and_then(|l| l.privmsg())
        .map(|m| m.text)
}

fn moderator() -> Viewer {
    Viewer::new("mod_mary").with(Roles::MODERATOR)
}

async fn a_moderator_adds_discord_from_chat_and_a_viewer_gets_it_at_once_with_variables(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    sim.chat_as(
        &moderator(),
        "!addcom !discord Join us, {touser}: discord.gg/example (asked in {channel}, #{count})",
    )
    .await;
    let added = said(&mut lines, |t| t.contains("discord")).await;
    assert_eq!(added.as_deref(), Some("Added !discord."));

    let viewer = Viewer::new("vic");
    sim.chat_as(&viewer, "!discord").await;
    let answer = said(&mut lines, |t| t.starts_with("Join us"))
        .await
        .expect("the viewer's !discord is answered");
    assert_eq!(
        answer,
        format!(
            "Join us, {}: discord.gg/example (asked in {}, #1)",
            viewer.display_name, sim.channel
        )
    );
    // A viewer's argument is pasted in as written, never read as a variable.
    sim.chat_as(&viewer, "!discord {user}").await;
    let answer = said(&mut lines, |t| t.starts_with("Join us")).await;
    assert_eq!(
        answer,
        Some(format!(
            "Join us, {{user}}: discord.gg/example (asked in {}, #2)",
            sim.channel
        ))
    );
    bot.shutdown().await;
}

async fn variables_that_ask_twitch_are_filled_from_the_twitch_api(transport: ChatTransport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    sim.chat_as(
        &moderator(),
        "!cmd add stats {followers} followers, {subscribers} subs, {uptime}, {points} points, \
         {accountage} old",
    )
    .await;
    assert_eq!(
        said(&mut lines, |t| t.contains("!stats")).await.as_deref(),
        Some("Added !stats.")
    );
    sim.chat_as(&Viewer::new("vic"), "!stats").await;
    let answer = said(&mut lines, |t| t.contains("followers"))
        .await
        .expect("answered");
    assert!(
        answer.starts_with("0 followers, 0 subs, offline, 0 points, ") && answer.ends_with(" old"),
        "{answer}"
    );
    assert!(!answer.contains("unavailable"), "{answer}");

    // Offline, the category and title are the channel's settings, as Twitch shows them.
    sim.chat_as(&moderator(), "!cmd add playing Playing {game}: {title}")
        .await;
    assert_eq!(
        said(&mut lines, |t| t.contains("!playing"))
            .await
            .as_deref(),
        Some("Added !playing.")
    );
    sim.chat_as(&Viewer::new("vic"), "!playing").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("Playing"))
            .await
            .as_deref(),
        Some("Playing Just Chatting: Offline test stream")
    );
    bot.shutdown().await;
}

async fn names_of_built_ins_and_scripts_are_refused_and_undo_brings_a_deleted_command_back(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let mary = moderator();

    sim.chat_as(&mary, "!cmd add ping not pong").await;
    let refused = said(&mut lines, |t| t.contains("!ping"))
        .await
        .expect("answer");
    assert!(refused.contains("commands/ping.rhai"), "{refused}");
    sim.chat_as(&mary, "!cmd add permit no").await;
    let refused = said(&mut lines, |t| t.contains("!permit"))
        .await
        .expect("answer");
    assert!(refused.contains("built-in"), "{refused}");
    // An alias of a script (`!quotes` is quote.rhai's) is taken too.
    sim.chat_as(&mary, "!cmd add quotes mine").await;
    let refused = said(&mut lines, |t| t.contains("!quotes"))
        .await
        .expect("answer");
    assert!(refused.contains("quote.rhai"), "{refused}");
    // The script still answers its name.
    sim.chat_as(&Viewer::new("vic"), "!ping").await;
    assert!(said(&mut lines, |t| t.contains("pong")).await.is_some());

    // An unknown variable is refused when saved.
    sim.chat_as(&mary, "!cmd add hi Hello {usr}").await;
    let refused = said(&mut lines, |t| t.contains("!hi"))
        .await
        .expect("answer");
    assert!(refused.contains("unknown variable {usr}"), "{refused}");

    sim.chat_as(&mary, "!cmd add hi Hello {user}").await;
    assert_eq!(
        said(&mut lines, |t| t.contains("!hi")).await.as_deref(),
        Some("Added !hi.")
    );
    sim.chat_as(&mary, "!cmd alias hi hey").await;
    assert!(said(&mut lines, |t| t.contains("!hey")).await.is_some());
    sim.chat_as(&Viewer::new("vic"), "!hey").await;
    assert!(
        said(&mut lines, |t| t.starts_with("Hello "))
            .await
            .is_some()
    );
    sim.chat_as(&mary, "!delcom hi").await;
    let deleted = said(&mut lines, |t| t.starts_with("Deleted"))
        .await
        .expect("answer");
    assert!(deleted.contains("!hi"), "{deleted}");
    assert!(bot_commands(&bot).is_empty());
    sim.chat_as(&mary, "!cmd undo").await;
    let undone = said(&mut lines, |t| t.starts_with("Undid"))
        .await
        .expect("answer");
    assert_eq!(undone, "Undid delete of !hi by mod_mary.");
    sim.chat_as(&Viewer::new("vic"), "!hey").await;
    assert!(
        said(&mut lines, |t| t.starts_with("Hello "))
            .await
            .is_some(),
        "the command and its alias are back"
    );
    bot.shutdown().await;
}

async fn a_script_saved_later_with_a_text_command_s_name_answers_instead_of_it(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    sim.chat_as(&moderator(), "!cmd add later from the text command")
        .await;
    assert!(said(&mut lines, |t| t == "Added !later.").await.is_some());
    std::fs::write(
        dir.path().join("scripts/commands/later.rhai"),
        "fn run(ctx) { ctx.say(\"from the script\"); }\n",
    )
    .expect("write the script");
    let vic = Viewer::new("vic");
    // The file watcher loads it within a moment.
    let host = bot.scripts().expect("scripts").clone();
    let loaded = common::eventually(10, || host.command_file("later").is_some()).await;
    assert!(loaded, "the watcher loads commands/later.rhai");
    sim.chat_as(&vic, "!later").await;
    sim.chat_as(&vic, "!ping").await;
    // Scripts run on several threads: the two answers may come in either order. Everything
    // said until both came (and a moment after) must not include the text command's.
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(heard.iter().any(|t: &String| t.contains("pong"))
        && heard.iter().any(|t| t == "from the script"))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match common::wait_line(&mut lines, left.as_secs().max(1), |l| l.privmsg().is_some()).await
        {
            Some(l) if tokio::time::Instant::now() < deadline => {
                heard.extend(l.privmsg().map(|m| m.text));
            }
            _ => break,
        }
    }
    if let Some(l) = common::wait_line(&mut lines, 1, |l| l.privmsg().is_some()).await {
        heard.extend(l.privmsg().map(|m| m.text));
    }
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(heard.iter().any(|t| t == "from the script"), "{heard:?}");
    assert!(
        !heard.iter().any(|t| t.contains("text command")),
        "{heard:?}"
    );
    bot.shutdown().await;
}

fn bot_commands(bot: &Bot) -> Vec<String> {
    bot.text_commands()
        .expect("text commands")
        .list()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

async fn a_viewer_can_neither_add_nor_change_a_command(transport: ChatTransport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let vic = Viewer::new("vic");
    sim.chat_as(&vic, "!cmd add free points for all").await;
    sim.chat_as(&vic, "!addcom free points for all").await;
    sim.chat_as(&vic, "!ping").await;
    // The bot answers the !ping after the two: neither was taken as a command.
    let next = said(&mut lines, |_| true).await.expect("an answer");
    assert!(next.contains("pong"), "{next}");
    assert!(bot_commands(&bot).is_empty());
    bot.shutdown().await;
}

async fn a_counter_counts_for_moderators_shows_for_everyone_and_survives_a_restart(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let mary = moderator();
    sim.chat_as(&mary, "!cmd counter deaths").await;
    assert!(said(&mut lines, |t| t.contains("!deaths")).await.is_some());
    for _ in 0..3 {
        sim.chat_as(&mary, "!deaths +1").await;
        assert!(
            said(&mut lines, |t| t.starts_with("deaths:"))
                .await
                .is_some()
        );
    }
    sim.chat_as(&mary, "!deaths -1").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("deaths:"))
            .await
            .as_deref(),
        Some("deaths: 2")
    );
    // A viewer's +1 only shows the count.
    sim.chat_as(&Viewer::new("vic"), "!deaths +1").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("deaths:"))
            .await
            .as_deref(),
        Some("deaths: 2")
    );
    // Undoing a later change (its level) keeps the count that moved since.
    sim.chat_as(&mary, "!cmd level deaths everyone").await;
    assert!(
        said(&mut lines, |t| t.contains("everyone and up"))
            .await
            .is_some()
    );
    sim.chat_as(&mary, "!deaths +1").await;
    assert!(said(&mut lines, |t| t == "deaths: 3").await.is_some());
    sim.chat_as(&mary, "!cmd undo").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("Undid"))
            .await
            .as_deref(),
        Some("Undid level of !deaths by mod_mary.")
    );
    sim.chat_as(&Viewer::new("vic"), "!deaths").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("deaths:"))
            .await
            .as_deref(),
        Some("deaths: 3")
    );
    bot.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    sim.chat_as(&Viewer::new("vic"), "!deaths").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("deaths:"))
            .await
            .as_deref(),
        Some("deaths: 3")
    );
    bot.shutdown().await;
}

async fn a_regular_added_in_chat_reaches_regular_commands_and_scripts_until_removed(
    transport: ChatTransport,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bot = start(dir.path(), transport).await;
    let sim = bot.sim().expect("offline");
    let mut lines = sim.chat.subscribe();
    let mary = moderator();
    let reggie = Viewer::new("reggie");
    sim.chat_as(&reggie, "hello").await; // seen once: the bot knows the login's id
    sim.chat_as(&mary, "!cmd add lounge Welcome to the lounge, {user}")
        .await;
    assert!(said(&mut lines, |t| t.contains("!lounge")).await.is_some());
    sim.chat_as(&mary, "!cmd level lounge regular").await;
    let level = said(&mut lines, |t| t.contains("regular and up")).await;
    assert!(level.is_some());
    sim.chat_as(&reggie, "!lounge").await;
    sim.chat_as(&mary, "!regular add reggie").await;
    // The first !lounge was refused: the next line (besides the greeting of reggie's first
    // message, which comes when it comes) is the answer to !regular add.
    let next = said(&mut lines, |t| !t.starts_with("Welcome, "))
        .await
        .expect("answer");
    assert_eq!(next, "reggie is a regular now.");
    sim.chat_as(&reggie, "!lounge").await;
    let answer = said(&mut lines, |t| t.starts_with("Welcome")).await;
    assert_eq!(
        answer,
        Some(format!("Welcome to the lounge, {}", reggie.display_name))
    );
    // Scripts see the same level: `PERMISSION = "regular"`.
    sim.chat_as(&reggie, "!backstage").await;
    assert_eq!(
        said(&mut lines, |t| t.starts_with("backstage"))
            .await
            .as_deref(),
        Some("backstage: regular")
    );
    sim.chat_as(&mary, "!regular remove reggie").await;
    assert!(
        said(&mut lines, |t| t.contains("no longer a regular"))
            .await
            .is_some()
    );
    sim.chat_as(&reggie, "!backstage").await;
    sim.chat_as(&mary, "!regular list").await;
    // The refused !backstage says nothing: the next line answers !regular list.
    let next = said(&mut lines, |t| !t.starts_with("Welcome, "))
        .await
        .expect("answer");
    assert_eq!(next, "No regulars yet: !regular add <user>");
    bot.shutdown().await;
}

/// The real binary in `--offline` mode, typed to through its terminal.
struct Binary(Running);

impl Binary {
    fn start(dir: &std::path::Path) -> Binary {
        Binary(
            BotCommand::in_dir(dir)
                .args(["--offline", "--noconsole"])
                .args(common::binary::NO_PEERS)
                .arg("--notimers")
                .example_scripts()
                .spawn(),
        )
    }

    /// Types `line` once and waits up to 10 s for a line containing `want`.
    fn type_once(&mut self, line: &str, want: &str) -> bool {
        self.0.type_line(line).expect("typing works");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while let Some(out) = self
            .0
            .next_line(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            if out.contains(want) {
                return true;
            }
        }
        false
    }

    /// Types `line` (again every 200 ms, at most 50 times: the first lines may race the
    /// bot's join) until the bot prints a line containing `want`. Only for lines that may
    /// repeat.
    fn type_until(&mut self, line: &str, want: &str) -> bool {
        self.0.type_until(line, |out| out.contains(want))
    }
}

#[test]
fn a_counter_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bot = Binary::start(dir.path());
    assert!(bot.type_until("/as mary mod !cmd counter deaths", "!deaths counts"));
    assert!(bot.type_until("/as mary mod !deaths =41", "deaths: 41"));
    assert!(bot.type_once("/as mary mod !deaths +1", "deaths: 42"));
    // SIGKILL: no shutdown, no flush; what was answered must already be on disk.
    bot.0.kill();

    let mut bot = Binary::start(dir.path());
    assert!(
        bot.type_until("!deaths", "deaths: 42"),
        "the count answered before the kill is still there"
    );
    bot.0.kill();
}

fn cli(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = BotCommand::in_dir(dir)
        .example_scripts()
        .args(args)
        .output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn commands_are_imported_from_yaml_checked_and_exported_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("commands.yaml");
    std::fs::write(
        &file,
        "commands:\n- name: discord\n  text: 'Join us, {user}'\n  aliases: [dc]\n  cooldown_secs: 5\n\
         - name: rules\n  text: Be nice\n  level: regular\n",
    )
    .expect("write");
    let (ok, out) = cli(
        dir.path(),
        &["commands", "import", file.to_str().expect("path")],
    );
    assert!(ok, "{out}");
    assert!(out.contains("2 of 2 text commands imported"), "{out}");

    // A name a script has, or an unknown variable, stops the import and names the command.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "commands:\n- name: ping\n  text: not pong\n").expect("write");
    let (ok, out) = cli(
        dir.path(),
        &["commands", "import", bad.to_str().expect("path")],
    );
    assert!(!ok);
    assert!(
        out.contains("!ping not imported") && out.contains("commands/ping.rhai"),
        "{out}"
    );
    std::fs::write(&bad, "commands:\n- name: hi\n  text: 'hi {usr}'\n").expect("write");
    let (ok, out) = cli(
        dir.path(),
        &["commands", "import", bad.to_str().expect("path")],
    );
    assert!(!ok);
    assert!(out.contains("unknown variable {usr}"), "{out}");

    let exported = dir.path().join("out.yaml");
    let (ok, out) = cli(
        dir.path(),
        &["commands", "export", exported.to_str().expect("path")],
    );
    assert!(ok, "{out}");
    let yaml = std::fs::read_to_string(&exported).expect("exported");
    for want in [
        "name: discord",
        "Join us, {user}",
        "- dc",
        "cooldown_secs: 5",
        "level: regular",
    ] {
        assert!(yaml.contains(want), "{want} missing from:\n{yaml}");
    }
    assert!(!yaml.contains("name: hi"));
}

#[test]
fn text_commands_and_regulars_are_in_the_backup() {
    use std::sync::Arc;
    use twitch_bot::commands::{self, Create, Regulars, TextCommands, Update};
    use twitch_bot::storage::{Storage, StorageOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::open(StorageOptions::new(dir.path().join("data"))).expect("open");
    let regulars = Arc::new(Regulars::load(Some(storage.clone()), &[]));
    let text = TextCommands::open(
        storage.clone(),
        commands::owners(None),
        Arc::new(commands::facts::NoFacts),
        regulars.clone(),
        "!",
    )
    .expect("text commands");
    let update = Update {
        text: Some("Join us".into()),
        ..Update::default()
    };
    text.save("discord", update, Create::Only, "mary", "add")
        .expect("saved");
    regulars.add("42", "reggie").expect("regular");
    let backup = storage.backup_now("test").expect("backup");
    storage.close().expect("close");

    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("mkdir");
    std::fs::copy(&backup, restored.join("bot.redb")).expect("restore the copy");
    let storage = Storage::open(StorageOptions {
        backup_on_open: false,
        ..StorageOptions::new(&restored)
    })
    .expect("open the restored copy");
    let names: Vec<String> = storage
        .text_commands()
        .expect("read")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["discord"]);
    assert_eq!(
        storage.regulars().expect("read"),
        [("42".to_string(), "reggie".to_string())]
    );
}

on_both_transports!(
    a_moderator_adds_discord_from_chat_and_a_viewer_gets_it_at_once_with_variables,
    variables_that_ask_twitch_are_filled_from_the_twitch_api,
    names_of_built_ins_and_scripts_are_refused_and_undo_brings_a_deleted_command_back,
    a_script_saved_later_with_a_text_command_s_name_answers_instead_of_it,
    a_viewer_can_neither_add_nor_change_a_command,
    a_counter_counts_for_moderators_shows_for_everyone_and_survives_a_restart,
    a_regular_added_in_chat_reaches_regular_commands_and_scripts_until_removed,
);
