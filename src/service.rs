//! `twitch-bot service install`: writes a systemd user unit that starts the bot at login and
//! restarts it when it fails, except with [`crate::exit::CONFIG`] (a broken config or a revoked
//! bot grant, which a restart cannot fix). It writes the file and prints the `systemctl --user`
//! commands; it runs nothing itself. Linux only: other systems get told what to use instead.

use std::path::{Path, PathBuf};

/// The unit's file name.
pub const UNIT_NAME: &str = "twitch-bot.service";

/// Seconds systemd waits before a restart.
pub const RESTART_SEC: u32 = 10;

/// What goes into the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The bot's binary, absolute.
    pub exe: PathBuf,
    /// The folder the bot runs in (where `configs/`, `scripts/` and `data/` are).
    pub working_dir: PathBuf,
    /// The flags the bot runs with (`-c channel`, ...).
    pub args: Vec<String>,
}

/// Quotes one `ExecStart` word the way systemd reads it: `%` and `$` doubled, and double quotes
/// around a word with a space, a quote or a backslash in it.
fn exec_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    if escaped.is_empty()
        || escaped
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

impl Unit {
    /// The unit file's text.
    pub fn text(&self) -> String {
        let mut exec = exec_word(&self.exe.to_string_lossy());
        for arg in &self.args {
            exec.push(' ');
            exec.push_str(&exec_word(arg));
        }
        format!(
            "[Unit]\n\
             Description=twitch-bot, a self-hosted Twitch bot\n\
             \n\
             [Service]\n\
             Type=simple\n\
             WorkingDirectory={}\n\
             ExecStart={exec}\n\
             Restart=on-failure\n\
             RestartSec={RESTART_SEC}\n\
             RestartPreventExitStatus={}\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            self.working_dir.to_string_lossy().replace('%', "%%"),
            crate::exit::CONFIG,
        )
    }
}

/// Where systemd looks for user units: `$XDG_CONFIG_HOME/systemd/user`, or
/// `~/.config/systemd/user` when `XDG_CONFIG_HOME` is unset, empty or relative (as the XDG
/// spec says). `None` without a home folder.
pub fn unit_dir(xdg_config_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let base = match xdg_config_home.filter(|p| p.is_absolute()) {
        Some(xdg) => xdg.to_path_buf(),
        None => home?.join(".config"),
    };
    Some(base.join("systemd").join("user"))
}

/// Writes `unit` into `dir` (created when missing) and returns the file's path. An existing
/// unit is replaced only with `force`.
///
/// # Errors
/// The unit exists and `force` is off, or the file cannot be written; worded for the user.
pub fn write_unit(dir: &Path, unit: &Unit, force: bool) -> anyhow::Result<PathBuf> {
    let path = dir.join(UNIT_NAME);
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists; run `twitch-bot service install --force` to replace it",
            path.display()
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(&path, unit.text())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// `twitch-bot service install` on Linux: the unit for this binary, `working_dir` (default: the
/// current folder) and `args`, written where systemd's user manager finds it. Returns what to
/// print: the path and the two commands to run.
///
/// # Errors
/// No binary path, no home folder, an existing unit without `force`, a write failure.
#[cfg(target_os = "linux")]
pub fn install(
    working_dir: Option<PathBuf>,
    args: Vec<String>,
    force: bool,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| anyhow::anyhow!("cannot tell where this twitch-bot binary is: {e}"))?;
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the current folder: {e}"))?;
    let working_dir = match working_dir {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => cwd.join(dir),
        None => cwd,
    };
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let dir = unit_dir(xdg.as_deref(), home.as_deref()).ok_or_else(|| {
        anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot tell where user units go")
    })?;
    let path = write_unit(
        &dir,
        &Unit {
            exe,
            working_dir,
            args,
        },
        force,
    )?;
    Ok(format!(
        "wrote {}\nnow run:\n  systemctl --user daemon-reload\n  systemctl --user enable --now twitch-bot\n\
         (logs: journalctl --user -u twitch-bot -f; to run without a login session: \
         loginctl enable-linger)",
        path.display()
    ))
}

/// `twitch-bot service install` where systemd is not: says what to use instead.
///
/// # Errors
/// Always: there is no unit to write here.
#[cfg(not(target_os = "linux"))]
pub fn install(
    _working_dir: Option<PathBuf>,
    _args: Vec<String>,
    _force: bool,
) -> anyhow::Result<String> {
    anyhow::bail!(
        "`service install` writes a systemd unit and works on Linux only. On Windows use Task \
         Scheduler, on macOS a launchd LaunchAgent: the README's \"Run it every day\" section \
         shows both"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_with_spaces_and_specifiers_survive_systemd_parsing() {
        assert_eq!(exec_word("-c"), "-c");
        assert_eq!(exec_word("/home/a b/bot"), "\"/home/a b/bot\"");
        assert_eq!(exec_word("50%"), "50%%");
        assert_eq!(exec_word("$HOME"), "$$HOME");
    }

    #[test]
    fn a_relative_xdg_config_home_is_ignored() {
        let home = Path::new("/home/u");
        assert_eq!(
            unit_dir(Some(Path::new("rel")), Some(home)),
            Some(PathBuf::from("/home/u/.config/systemd/user"))
        );
        assert_eq!(
            unit_dir(Some(Path::new("/x")), Some(home)),
            Some(PathBuf::from("/x/systemd/user"))
        );
        assert_eq!(unit_dir(None, None), None);
    }
}
