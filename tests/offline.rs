//! The real binary in `--offline` mode, driven through its terminal as a new user would.

mod common;

use common::binary::BotCommand;

#[test]
fn typing_ping_in_the_offline_terminal_prints_pong_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bot = BotCommand::in_dir(dir.path())
        .args(["--offline", "--noconsole"])
        .args(common::binary::NO_PEERS)
        .example_scripts()
        .spawn();
    // Type `!ping` until the bot has joined and answers (the first lines may race the join).
    let answered = bot.type_until("!ping", |line| line.ends_with(": pong"));
    assert!(answered, "the bot printed pong");

    #[cfg(unix)]
    {
        assert!(bot.signal("-TERM"));
        let exit = bot.wait_exit(10);
        bot.kill();
        assert_eq!(
            exit.and_then(|e| e.code()),
            Some(0),
            "SIGTERM gives a clean exit"
        );
    }
    #[cfg(not(unix))]
    {
        bot.kill();
    }
}

/// On one CPU the runtime is tokio's current-thread scheduler, which only the main thread
/// drives: a script thread waiting on a Helix call must still get its answer.
#[cfg(target_os = "linux")]
#[test]
fn pinned_to_one_cpu_the_bot_answers_chat_and_scripts_get_helix_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bot = BotCommand::on_one_cpu()
        .folders(&dir.path().join("configs"), &dir.path().join("data"))
        .args(["--offline", "--noconsole"])
        .args(common::binary::NO_PEERS)
        .example_scripts()
        .spawn();
    assert!(
        bot.type_until("!ping", |line| line.ends_with(": pong")),
        "the bot on one CPU printed pong"
    );
    // `!accountage` asks Helix for the account from a script thread.
    assert!(
        bot.type_until("!accountage mychannel", |line| line
            .contains(" was created ")),
        "the script got Helix's answer on one CPU"
    );
    bot.kill();
}

#[test]
fn a_config_that_does_not_load_exits_with_the_code_a_restart_cannot_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs");
    std::fs::write(configs.join("bot.yaml"), "chat:\n  rate_limit: sometimes\n").expect("write");
    let out = BotCommand::new()
        .args(["--offline", "--noconsole"])
        .args(common::binary::NO_PEERS)
        .folders(&configs, &dir.path().join("data"))
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(twitch_bot::exit::CONFIG)),
        "{stderr}"
    );
    assert!(
        stderr.contains("bot.yaml:2:"),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("rate_limit"), "and the key: {stderr}");
}
