//! A full offline run with every secret set: not one of their values appears in anything the
//! bot writes (log on stderr, terminal on stdout).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Values no default or generated value can look like, so a hit is a leak.
const SECRETS: [&str; 9] = [
    "clientsecretLEAKCHECK0001",
    "botaccessLEAKCHECK0002",
    "botrefreshLEAKCHECK0003",
    "bcastaccessLEAKCHECK0004",
    "bcastrefreshLEAKCHECK0005",
    "consoletokenLEAKCHECK0006xxxxxxxxxxxx",
    "obspasswordLEAKCHECK0007",
    "webhooktokenLEAKCHECK0008",
    "discordbotLEAKCHECK0009",
];

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn no_secret_value_appears_in_the_output_of_an_offline_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).expect("configs dir");
    let [
        client_secret,
        bot_access,
        bot_refresh,
        bc_access,
        bc_refresh,
        console,
        obs,
        hook,
        discord,
    ] = SECRETS;
    let secrets = format!(
        "client_id: leakcheckclientid\n\
         client_secret: {client_secret}\n\
         bot:\n  access_token: {bot_access}\n  refresh_token: {bot_refresh}\n\
         broadcaster:\n  access_token: {bc_access}\n  refresh_token: {bc_refresh}\n\
         console_token: {console}\n\
         obs_password: {obs}\n\
         discord:\n  webhooks:\n    announcements: http://127.0.0.1:{}/api/webhooks/1/{hook}\n  \
         bot_token: {discord}\n",
        free_port()
    );
    let path = configs.join("secrets.yaml");
    std::fs::write(&path, secrets).expect("write secrets.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // OBS on a port nobody listens on: the bot keeps retrying, with the password in hand.
    let bot = format!(
        "console:\n  bind: 127.0.0.1:{}\nobs:\n  port: {}\n",
        free_port(),
        free_port()
    );
    std::fs::write(configs.join("bot.yaml"), bot).expect("write bot.yaml");

    let mut child = Command::new(env!("CARGO_BIN_EXE_twitch-bot"))
        .args([
            "--offline",
            "--nozmq",
            "--noaudio",
            "--nohotkeys",
            "--nonotify",
        ])
        .arg("--config")
        .arg(&configs)
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--scripts")
        .arg(
            std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
                .join("scripts"),
        )
        .env("RUST_LOG", "trace,enigo=off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdin = child.stdin.take().expect("stdin");
    for _ in 0..20 {
        let _ = writeln!(stdin, "!ping");
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(150));
    }
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    let _ = child.wait();
    let output = format!(
        "{}\n{}",
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader")
    );
    assert!(
        output.contains("pong"),
        "the run got far enough to answer chat:\n{output}"
    );
    assert!(
        output.lines().count() > 20,
        "the run logged something to scan:\n{output}"
    );
    for secret in SECRETS {
        let leaks: Vec<&str> = output.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret} was written out:\n{}",
            leaks.join("\n")
        );
    }
}
