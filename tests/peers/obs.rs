//! A real OBS (30.2.3, obs-websocket 5.5.2, from Debian trixie) run headless under Xvfb in the
//! trixie folder `.ci/peers/obs.sh` builds (see test-peers.md): started with a fresh HOME, a
//! port and a password, stopped in a Drop guard. Included by the tests that need it with
//! `#[path = "peers/obs.rs"] mod obs_peer;` beside `mod peers;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One OBS at a time.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The trixie folder with OBS, mounted and usable; `None` (after a visible `skipped:`) when it
/// is not there.
pub fn obs_root() -> Option<PathBuf> {
    let root = std::env::var_os("TB_OBS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/twitch-bot-peers/trixie"));
    let why = if !root.join("usr/bin/obs").exists() {
        "no OBS folder (run .ci/peers/obs.sh)"
    } else if !root.join("proc/self/stat").exists() {
        "the OBS folder's /proc is not mounted (run .ci/peers/obs.sh)"
    } else if Command::new("chroot")
        .arg(&root)
        .arg("/bin/true")
        .status()
        .map_or(true, |s| !s.success())
    {
        "cannot chroot into the OBS folder (needs root)"
    } else {
        return Some(root);
    };
    crate::peers::skipped(&format!("{why}: {}", root.display()));
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running OBS; stopped (SIGINT, then its Xvfb) when dropped.
pub struct ObsPeer {
    password: String,
    root: PathBuf,
    /// HOME inside the folder, as OBS sees it.
    home: String,
    pub port: u16,
    /// `xvfb-run`'s shell (chroot and env exec into it), parent of Xvfb and obs.
    shell: Option<Child>,
}

impl ObsPeer {
    /// Starts OBS with its WebSocket server on `port` and waits until it answers.
    pub async fn start(root: &Path, port: u16, password: &str) -> ObsPeer {
        let home = format!("/tmp/tb-obs-{port}");
        let host_home = root.join(home.trim_start_matches('/'));
        let _ = std::fs::remove_dir_all(&host_home);
        let ws_dir = host_home.join(".config/obs-studio/plugin_config/obs-websocket");
        std::fs::create_dir_all(&ws_dir).expect("OBS home");
        std::fs::write(
            host_home.join(".config/obs-studio/global.ini"),
            "[General]\nFirstRun=true\n",
        )
        .expect("global.ini");
        let ws_config = serde_json::json!({
            "first_load": false, "server_enabled": true, "server_port": port,
            "alerts_enabled": false, "auth_required": true, "server_password": password,
        });
        std::fs::write(ws_dir.join("config.json"), ws_config.to_string()).expect("ws config");
        // libpulse's runtime folder, inside HOME so it goes with it (else /tmp/pulse-*).
        let run_dir = host_home.join("run");
        std::fs::create_dir_all(&run_dir).expect("runtime dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700));
        }
        let log = std::fs::File::create(host_home.join("obs.log")).expect("log");
        let shell = Command::new("chroot")
            .arg(root)
            .args(["env", "-i"])
            .arg(format!("HOME={home}"))
            .arg(format!("XDG_RUNTIME_DIR={home}/run"))
            .args([
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "QT_QPA_PLATFORM=xcb",
                "xvfb-run",
                "-a",
                "-s",
                "-screen 0 1280x720x24 -nolisten tcp",
                "obs",
                "--disable-shutdown-check",
                "--multi",
                "--disable-updater",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("chroot starts");
        let peer = ObsPeer {
            password: password.to_string(),
            root: root.to_path_buf(),
            home,
            port,
            shell: Some(shell),
        };
        let up = async {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(20), up)
            .await
            .is_err()
        {
            panic!(
                "OBS did not open port {port} within 20 s; its log:\n{}",
                peer.log()
            );
        }
        peer
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.host_home().join("obs.log")).unwrap_or_default()
    }

    fn host_home(&self) -> PathBuf {
        self.root.join(self.home.trim_start_matches('/'))
    }

    /// The test's own obws client.
    pub async fn client(&self) -> obws::Client {
        obws::Client::connect("127.0.0.1", self.port, Some(self.password.as_str()))
            .await
            .expect("the test's client connects to OBS")
    }

    pub fn stop(&mut self) {
        let Some(mut shell) = self.shell.take() else {
            return;
        };
        let children = children_of(shell.id());
        for (pid, name) in &children {
            if name == "obs" {
                signal("INT", *pid);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(shell.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // xvfb-run stops its Xvfb when obs exits; make sure of it (and of obs) by PID.
        for (pid, _) in &children {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal("KILL", *pid);
            }
        }
        let _ = shell.kill();
        let _ = shell.wait();
        let _ = std::fs::remove_dir_all(self.host_home());
    }
}

impl Drop for ObsPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// (pid, command name) of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push((pid, comm));
        }
    }
    out
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}
