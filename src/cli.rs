//! The command line: flags that switch subsystems off, folders, and the subcommands.
//!
//! Parsing only, and the set of subsystems the switches leave on
//! ([`Cli::subsystems`]); what the rest means at run time lives in `Settings` in the `app`
//! module.

use std::path::PathBuf;

use argh::FromArgs;

use crate::subsystems::{Subsystem, Subsystems};

/// A self-hosted Twitch bot with a sandboxed Rhai scripting host.
#[derive(FromArgs, Debug, Default, PartialEq)]
pub struct Cli {
    /// the channel to join (overrides `owner` in configs/bot.yaml)
    #[argh(option, short = 'c')]
    pub channel: Option<String>,
    /// run against the built-in simulated Twitch on 127.0.0.1 (no account needed)
    #[argh(switch)]
    pub offline: bool,
    /// do not run timer scripts
    #[argh(switch)]
    pub notimers: bool,
    /// do not connect to EventSub (IRC USERNOTICEs then count for subs, gifts, cheers, raids)
    #[argh(switch)]
    pub noeventsub: bool,
    /// do not connect to chat
    #[argh(switch)]
    pub nochat: bool,
    /// do not connect to OBS
    #[argh(switch)]
    pub noobs: bool,
    /// accepted for compatibility: Twitch shut PubSub down in 2025, EventSub covers it
    #[argh(switch)]
    pub nopubsub: bool,
    /// do not post to Discord
    #[argh(switch)]
    pub nodiscord: bool,
    /// do not publish events on ZeroMQ
    #[argh(switch)]
    pub nozmq: bool,
    /// do not play sounds
    #[argh(switch)]
    pub nosound: bool,
    /// the same as --nosound (its older name, still accepted)
    #[argh(switch)]
    pub noaudio: bool,
    /// do not press hotkeys
    #[argh(switch)]
    pub nohotkeys: bool,
    /// do not serve the web console
    #[argh(switch)]
    pub noconsole: bool,
    /// do not send desktop notifications
    #[argh(switch)]
    pub nonotify: bool,
    /// the configs folder (default: configs)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// the scripts folder (default: scripts)
    #[argh(option)]
    pub scripts: Option<PathBuf>,
    /// the data folder (default: data)
    #[argh(option)]
    pub data: Option<PathBuf>,
    /// log more (debug level)
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    /// print the version (and the git commit it was built from) and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    /// the subcommand (`auth`, `check`, …); none runs the bot
    #[argh(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The subsystems that run: all of them but those a `--no…` switch turns off (`--noaudio`
    /// is `--nosound` by its older name).
    pub fn subsystems(&self) -> Subsystems {
        let mut on = Subsystems::all();
        for (off, subsystem) in [
            (self.nochat, Subsystem::Chat),
            (self.noeventsub, Subsystem::EventSub),
            (self.notimers, Subsystem::Timers),
            (self.noconsole, Subsystem::Console),
            (self.noobs, Subsystem::Obs),
            (self.nodiscord, Subsystem::Discord),
            (self.nozmq, Subsystem::Zmq),
            (self.nosound || self.noaudio, Subsystem::Sound),
            (self.nohotkeys, Subsystem::Hotkeys),
            (self.nonotify, Subsystem::Notify),
        ] {
            if off {
                on.set(subsystem, false);
            }
        }
        on
    }

    /// The run flags given (not the subcommand), as words for another `twitch-bot` command line:
    /// what `service install` puts in the unit's `ExecStart`.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(channel) = &self.channel {
            args.extend(["-c".to_string(), channel.clone()]);
        }
        for (on, flag) in [
            (self.offline, "--offline"),
            (self.notimers, "--notimers"),
            (self.noeventsub, "--noeventsub"),
            (self.nochat, "--nochat"),
            (self.noobs, "--noobs"),
            (self.nopubsub, "--nopubsub"),
            (self.nodiscord, "--nodiscord"),
            (self.nozmq, "--nozmq"),
            (self.nosound, "--nosound"),
            (self.noaudio, "--noaudio"),
            (self.nohotkeys, "--nohotkeys"),
            (self.noconsole, "--noconsole"),
            (self.nonotify, "--nonotify"),
        ] {
            if on {
                args.push(flag.to_string());
            }
        }
        for (dir, flag) in [
            (&self.config, "--config"),
            (&self.scripts, "--scripts"),
            (&self.data, "--data"),
        ] {
            if let Some(dir) = dir {
                args.extend([flag.to_string(), dir.to_string_lossy().into_owned()]);
            }
        }
        if self.verbose {
            args.push("-v".to_string());
        }
        args
    }
}

/// `twitch-bot 0.1.0`, followed by the commit (`(3f9c2ab)`) when built from a git checkout.
pub fn version() -> String {
    let version = concat!("twitch-bot ", env!("CARGO_PKG_VERSION"));
    match option_env!("TWITCH_BOT_COMMIT") {
        Some(commit) => format!("{version} ({commit})"),
        None => version.to_owned(),
    }
}

/// Subcommands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    /// `auth`: authorize the bot and broadcaster accounts.
    Auth(AuthCmd),
    /// `check`: validate configs and scripts.
    Check(CheckCmd),
    /// `commands`: export or import the text commands.
    Commands(CommandsCmd),
    /// `console-link`: a one-time sign-in link for the console.
    ConsoleLink(ConsoleLinkCmd),
    /// `import`: points from another bot's export.
    Import(ImportCmd),
    /// `stats`: recorded streams and their reports.
    Stats(StatsCmd),
    /// `service`: run the bot as a service.
    Service(ServiceCmd),
}

/// Authorize the bot account and the broadcaster account (Device Code Grant).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "auth")]
pub struct AuthCmd {
    /// use the authorization-code flow with a local redirect (needs a client secret)
    #[argh(switch)]
    pub code_flow: bool,
}

/// Print a fresh one-time link that signs a browser in to the running bot's web console.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(subcommand, name = "console-link")]
pub struct ConsoleLinkCmd {}

/// Validate every config and compile every script; exit non-zero on any error.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(subcommand, name = "check")]
pub struct CheckCmd {
    /// also ask Twitch (tokens and scopes, never refreshed), OBS and Discord whether the bot can
    /// run as configured; with --offline, against the built-in simulator
    #[argh(switch)]
    pub live: bool,
    /// check against the built-in simulated Twitch (the same as `--offline` before `check`)
    #[argh(switch)]
    pub offline: bool,
}

/// Run the bot as a service (Linux: a systemd user unit).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "service")]
pub struct ServiceCmd {
    /// what to do with the service
    #[argh(subcommand)]
    pub action: ServiceAction,
}

/// What to do with the service.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum ServiceAction {
    /// `install`: write the unit.
    Install(ServiceInstallCmd),
}

/// Write a systemd user unit that runs `twitch-bot` with the flags given before `service`
/// (`twitch-bot -c yourchannel service install`) and restarts it on failure.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "install")]
pub struct ServiceInstallCmd {
    /// replace an existing unit
    #[argh(switch)]
    pub force: bool,
    /// the folder the bot runs in (default: the current folder)
    #[argh(option)]
    pub workdir: Option<PathBuf>,
}

/// Import points from another bot's export (CSV).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "import")]
pub struct ImportCmd {
    /// the export file
    #[argh(positional)]
    pub file: PathBuf,
}

/// Export the text commands to a YAML file, or import them from one (the bot must not run).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "commands")]
pub struct CommandsCmd {
    /// export or import
    #[argh(subcommand)]
    pub action: CommandsAction,
}

/// What to do with the text commands.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum CommandsAction {
    /// `export`: write them to a file.
    Export(CommandsExportCmd),
    /// `import`: read them from a file.
    Import(CommandsImportCmd),
}

/// Write every text command to a YAML file.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "export")]
pub struct CommandsExportCmd {
    /// the YAML file to write
    #[argh(positional)]
    pub file: PathBuf,
}

/// Add or replace the text commands listed in a YAML file (the others stay).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "import")]
pub struct CommandsImportCmd {
    /// the YAML file to read
    #[argh(positional)]
    pub file: PathBuf,
}

/// List recorded streams, or write the report of one (id, date, or `latest`) to data/stats/.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "stats")]
pub struct StatsCmd {
    /// the stream id, its date (YYYY-MM-DD) or `latest` (default: list streams)
    #[argh(positional)]
    pub stream: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, argh::EarlyExit> {
        Cli::from_args(&["twitch-bot"], args)
    }

    #[test]
    fn every_switch_parses() {
        let cli = parse(&[
            "-c",
            "somechannel",
            "--notimers",
            "--noeventsub",
            "--nochat",
            "--noobs",
            "--nopubsub",
            "--nodiscord",
            "--nozmq",
            "--nosound",
            "--noaudio",
            "--nohotkeys",
            "--noconsole",
            "--nonotify",
            "--offline",
            "--config",
            "cfg",
            "--scripts",
            "scr",
            "--data",
            "dat",
            "-v",
        ])
        .unwrap();
        assert_eq!(cli.channel.as_deref(), Some("somechannel"));
        assert!(cli.notimers && cli.noeventsub && cli.nochat && cli.noobs && cli.nopubsub);
        assert!(cli.nodiscord && cli.nozmq && cli.noaudio && cli.nohotkeys && cli.noconsole);
        assert!(cli.nosound && cli.nonotify && cli.offline && cli.verbose);
        assert_eq!(cli.subsystems(), Subsystems::NONE);
        assert_eq!(cli.config, Some(PathBuf::from("cfg")));
        assert_eq!(cli.scripts, Some(PathBuf::from("scr")));
        assert_eq!(cli.data, Some(PathBuf::from("dat")));
    }

    #[test]
    fn nosound_and_its_old_name_noaudio_both_switch_sound_off() {
        let all = parse(&[]).unwrap().subsystems();
        assert_eq!(all, Subsystems::all());
        for flag in ["--nosound", "--noaudio"] {
            let on = parse(&[flag]).unwrap().subsystems();
            assert!(!on.contains(Subsystem::Sound), "{flag}");
            assert_eq!(
                on,
                all.without(Subsystem::Sound),
                "{flag} touches only sound"
            );
        }
        let both = parse(&["--nosound", "--noaudio"]).unwrap().subsystems();
        assert_eq!(both, all.without(Subsystem::Sound));
    }

    #[test]
    fn each_switch_turns_off_the_subsystem_it_names() {
        for subsystem in Subsystem::ALL {
            let on = parse(&[subsystem.flag()]).unwrap().subsystems();
            assert_eq!(
                on,
                Subsystems::all().without(subsystem),
                "{}",
                subsystem.flag()
            );
        }
    }

    #[test]
    fn subcommands_parse() {
        assert_eq!(
            parse(&["check"]).unwrap().command,
            Some(Command::Check(CheckCmd::default()))
        );
        assert_eq!(
            parse(&["check", "--live", "--offline"]).unwrap().command,
            Some(Command::Check(CheckCmd {
                live: true,
                offline: true
            }))
        );
        assert_eq!(
            parse(&["service", "install", "--force"]).unwrap().command,
            Some(Command::Service(ServiceCmd {
                action: ServiceAction::Install(ServiceInstallCmd {
                    force: true,
                    workdir: None
                })
            }))
        );
        assert!(matches!(
            parse(&["import", "points.csv"]).unwrap().command,
            Some(Command::Import(ImportCmd { .. }))
        ));
        assert!(matches!(
            parse(&["auth"]).unwrap().command,
            Some(Command::Auth(_))
        ));
        assert!(matches!(
            parse(&["stats"]).unwrap().command,
            Some(Command::Stats(_))
        ));
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn the_run_flags_round_trip() {
        let args = ["-c", "somechannel", "--noaudio", "--data", "dat", "-v"];
        let cli = parse(&args).unwrap();
        assert_eq!(cli.run_args(), args);
        let run = cli.run_args();
        let words: Vec<&str> = run.iter().map(String::as_str).collect();
        let again = parse(&words).unwrap();
        assert_eq!(again, cli);
    }
}
