//! `twitch-bot service install`: the systemd user unit written where `XDG_CONFIG_HOME` says,
//! with the binary, the folder and the flags given, and never over an existing unit unless
//! `--force`.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Output;

use common::binary::BotCommand;

fn install(xdg: &Path, workdir: &Path, args: &[&str]) -> Output {
    BotCommand::new()
        .args(args)
        .env("XDG_CONFIG_HOME", xdg)
        .current_dir(workdir)
        .output()
}

#[test]
fn the_unit_runs_this_binary_here_with_the_flags_and_does_not_restart_on_78() {
    let xdg = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let work_dir = work.path().canonicalize().expect("absolute");
    let out = install(
        xdg.path(),
        &work_dir,
        &["-c", "yourchannel", "--noaudio", "service", "install"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit_path = xdg.path().join("systemd/user/twitch-bot.service");
    let exe = Path::new(common::binary::PATH)
        .canonicalize()
        .expect("binary path");
    let expected = format!(
        "[Unit]\n\
         Description=twitch-bot, a self-hosted Twitch bot\n\
         \n\
         [Service]\n\
         Type=simple\n\
         WorkingDirectory={}\n\
         ExecStart={} -c yourchannel --noaudio\n\
         Restart=on-failure\n\
         RestartSec=10\n\
         RestartPreventExitStatus=78\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        work_dir.display(),
        exe.display()
    );
    let written = std::fs::read_to_string(&unit_path).expect("the unit is written");
    assert_eq!(written, expected);
    assert!(
        stdout.contains(&unit_path.display().to_string()),
        "{stdout}"
    );
    assert!(
        stdout.contains("systemctl --user daemon-reload"),
        "{stdout}"
    );
    assert!(
        stdout.contains("systemctl --user enable --now twitch-bot"),
        "{stdout}"
    );
}

#[test]
fn an_existing_unit_is_kept_unless_forced() {
    let xdg = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let unit_path = xdg.path().join("systemd/user/twitch-bot.service");
    std::fs::create_dir_all(unit_path.parent().expect("folder")).expect("mkdir");
    std::fs::write(&unit_path, "mine\n").expect("write");

    let refused = install(xdg.path(), work.path(), &["service", "install"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&unit_path).expect("kept"), "mine\n");

    let other = tempfile::tempdir().expect("tempdir");
    let forced = install(
        xdg.path(),
        work.path(),
        &[
            "service",
            "install",
            "--force",
            "--workdir",
            &other.path().display().to_string(),
        ],
    );
    assert!(forced.status.success());
    let written = std::fs::read_to_string(&unit_path).expect("replaced");
    assert!(
        written.contains(&format!("WorkingDirectory={}\n", other.path().display())),
        "{written}"
    );
}
