//! Build script: records the git commit the binary is built from, for `twitch-bot --version`.
//!
//! Only when the source is a git checkout and git is installed; a build from a tarball, or
//! without git, gets no commit and still succeeds. Nothing here can fail the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    // `.git` is a folder in a clone and a file in a worktree; either way git knows the rest.
    if !dir.join(".git").exists() {
        return;
    }
    let Some(commit) = git(&dir, &["rev-parse", "--short", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=TWITCH_BOT_COMMIT={commit}");
    // Build again when HEAD moves: a checkout changes HEAD, a commit changes the branch's ref
    // (a loose file, or packed-refs once git has packed it).
    let mut watched = vec![git(&dir, &["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&dir, &["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&dir, &["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        let path = dir.join(path);
        // A path that does not exist would make cargo rerun this script on every build.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// The trimmed output of a successful git command run in `dir`, or `None`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
