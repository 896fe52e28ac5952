//! Where a script the console edits may be and how it is written: the path rules (a `.rhai`
//! file directly in a script folder, nothing linked out of `scripts/`), the content stamp, and
//! atomic writes through a temporary file in the same folder.

use std::fs::{self, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{EditError, MAX_NAME, MAX_SCRIPT_BYTES, ScriptText};
use crate::scripting::loader::{ScriptId, ScriptKind};
use crate::scripting::registry;

/// A checked script path inside the scripts folder.
pub(super) struct Target {
    pub(super) rel: String,
    pub(super) id: ScriptId,
    pub(super) path: PathBuf,
}

pub(super) fn name_ok(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn folders() -> String {
    ScriptKind::ALL
        .iter()
        .map(|k| format!("{}/", k.folder()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `commands/ping.rhai` → the file in `dir`; anything but `<kind folder>/<name>.rhai` is refused.
pub(super) fn target(dir: &Path, rel: &str) -> Result<Target, EditError> {
    let rel = rel.trim();
    let shape = || {
        EditError::Invalid(format!(
            "`{rel}` is not a script path: use `<folder>/<name>.rhai` with the folder one of {} \
             and the name letters, digits, _ or -",
            folders()
        ))
    };
    if rel.is_empty() {
        return Err(EditError::Invalid(
            "`path` is empty: give a script such as commands/ping.rhai".into(),
        ));
    }
    if rel.starts_with('/')
        || rel.contains('\\')
        || rel.contains(':')
        || Path::new(rel).is_absolute()
    {
        return Err(EditError::Invalid(format!(
            "`{rel}` is an absolute path: give a path inside the scripts folder, such as \
             commands/ping.rhai"
        )));
    }
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.iter().any(|p| *p == ".." || *p == ".") {
        return Err(EditError::Invalid(format!(
            "`{rel}` leaves its folder (`..` or `.`): the console edits only scripts inside the \
             scripts folder"
        )));
    }
    let [folder, file] = parts.as_slice() else {
        return Err(shape());
    };
    let kind = ScriptKind::from_folder(folder).ok_or_else(shape)?;
    let Some(name) = file.strip_suffix(".rhai") else {
        return Err(EditError::Invalid(format!(
            "`{rel}` is not a .rhai file: the console edits scripts only"
        )));
    };
    if !name_ok(name) {
        return Err(shape());
    }
    let path = dir.join(kind.folder()).join(file);
    let id = ScriptId::from_path(&path).ok_or_else(shape)?;
    Ok(Target {
        rel: format!("{}/{file}", kind.folder()),
        id,
        path,
    })
}

/// The scripts folder, resolved.
fn root(dir: &Path) -> Result<PathBuf, EditError> {
    dir.canonicalize().map_err(|e| {
        EditError::Io(format!(
            "the scripts folder {} cannot be opened: {e}",
            dir.display()
        ))
    })
}

/// Refuses a file (or its folder) that is a link leading out of the scripts folder; for a
/// write, any link. `Ok(false)`: the file does not exist (its folder may not either).
pub(super) fn contained(dir: &Path, t: &Target, write: bool) -> Result<bool, EditError> {
    let root = root(dir)?;
    let outside = || {
        EditError::Outside(format!(
            "{} leads out of the scripts folder (a symbolic link): the console edits only files \
             inside it",
            t.rel
        ))
    };
    let folder = dir.join(t.id.kind.folder());
    match folder.canonicalize() {
        Ok(real) if real.starts_with(&root) => {}
        Ok(_) => return Err(outside()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(EditError::Io(format!(
                "cannot open {}: {e}",
                folder.display()
            )));
        }
    }
    let meta = match fs::symlink_metadata(&t.path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(EditError::Io(format!("cannot open {}: {e}", t.rel))),
    };
    if meta.file_type().is_symlink() {
        let real = t.path.canonicalize().map_err(|_| outside())?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
        if write {
            return Err(EditError::Outside(format!(
                "{} is a symbolic link: edit the file it points to instead",
                t.rel
            )));
        }
    } else if !meta.is_file() {
        return Err(EditError::Invalid(format!("{} is not a file", t.rel)));
    }
    Ok(true)
}

pub(super) fn millis(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stamp of a file's content: its time and a hash of its bytes, so an edit within the
/// clock's granularity still changes it.
pub(super) fn stamp(bytes: &[u8], ms: u64) -> String {
    format!("{ms}-{:016x}", registry::source_hash(bytes))
}

/// Reads a script file (at most [`MAX_SCRIPT_BYTES`], UTF-8).
pub(super) fn read_text(t: &Target) -> Result<ScriptText, EditError> {
    let io_err = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            EditError::NotFound(format!("there is no script {}", t.rel))
        } else {
            EditError::Io(format!("cannot read {}: {e}", t.rel))
        }
    };
    let meta = fs::metadata(&t.path).map_err(io_err)?;
    if meta.len() > MAX_SCRIPT_BYTES as u64 {
        return Err(EditError::TooLarge(format!(
            "{} is {} KiB; the console edits scripts up to {} KiB",
            t.rel,
            meta.len() / 1024,
            MAX_SCRIPT_BYTES / 1024
        )));
    }
    let bytes = fs::read(&t.path).map_err(io_err)?;
    let modified = stamp(&bytes, millis(&meta));
    let source = String::from_utf8(bytes).map_err(|_| {
        EditError::Invalid(format!("{} is not UTF-8 text; fix it in an editor", t.rel))
    })?;
    Ok(ScriptText {
        path: t.rel.clone(),
        source,
        modified,
        modified_ms: millis(&meta),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same folder: readers (and the bot
/// after a crash) see the old file or the new one, never half of one. `create`: fails if the
/// file exists (a hard link never replaces one).
pub(super) fn write_atomic(path: &Path, bytes: &[u8], create: bool) -> io::Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| io::Error::other("the file has no folder"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Not `.rhai`: the file watcher ignores it.
    let tmp = folder.join(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        if !create && let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if create {
            fs::hard_link(&tmp, path)?;
            fs::remove_file(&tmp)?;
        } else {
            fs::rename(&tmp, path)?;
        }
        // The rename itself survives a power cut once the folder is synced (Unix only).
        #[cfg(unix)]
        if let Ok(dir) = fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_script_paths_inside_the_folder_are_accepted() {
        let dir = Path::new("scripts");
        assert!(target(dir, "commands/ping.rhai").is_ok());
        for bad in [
            "../configs/secrets.yaml",
            "commands/../../x.rhai",
            "/etc/passwd",
            "commands/ping.txt",
            "commands/sub/ping.rhai",
            "other/ping.rhai",
            "commands/.hidden.rhai",
            "commands/a b.rhai",
            "C:\\x.rhai",
            "",
        ] {
            assert!(target(dir, bad).is_err(), "{bad} was accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_path_is_a_script_directly_in_a_script_folder(
            rel in "(commands|events|timers|\\.\\.|/|\\.|x|ping|\\.rhai|\\\\|:| |%2e){0,8}"
        ) {
            if let Ok(t) = target(Path::new("scripts"), &rel) {
                let inside = t.path.strip_prefix("scripts").expect("inside scripts/");
                let parts: Vec<_> = inside.components().collect();
                proptest::prop_assert_eq!(parts.len(), 2, "{}", rel);
                for part in &parts {
                    proptest::prop_assert!(
                        matches!(part, std::path::Component::Normal(_)),
                        "{}",
                        rel
                    );
                }
                proptest::prop_assert!(t.path.extension().is_some_and(|e| e == "rhai"));
                proptest::prop_assert!(ScriptId::from_path(&t.path).is_some());
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_or_file_linked_out_of_the_scripts_folder_is_refused() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("scripts");
        let outside = tmp.path().join("elsewhere");
        fs::create_dir_all(dir.join("commands")).expect("commands");
        fs::create_dir_all(&outside).expect("elsewhere");
        fs::write(outside.join("x.rhai"), "fn run(ctx) {}").expect("x");
        std::os::unix::fs::symlink(&outside, dir.join("events")).expect("link the folder");
        std::os::unix::fs::symlink(outside.join("x.rhai"), dir.join("commands/x.rhai"))
            .expect("link the file");
        fs::write(dir.join("commands/inside.rhai"), "fn run(ctx) {}").expect("inside");
        std::os::unix::fs::symlink(
            dir.join("commands/inside.rhai"),
            dir.join("commands/y.rhai"),
        )
        .expect("link inside");
        let check = |rel: &str, write: bool| {
            let t = target(&dir, rel).expect("a script path");
            contained(&dir, &t, write)
        };
        assert!(matches!(
            check("events/x.rhai", false),
            Err(EditError::Outside(_))
        ));
        assert!(matches!(
            check("commands/x.rhai", false),
            Err(EditError::Outside(_))
        ));
        assert!(matches!(
            check("commands/x.rhai", true),
            Err(EditError::Outside(_))
        ));
        // A link inside the folder can be read, but a save would replace the link: refused.
        assert_eq!(check("commands/y.rhai", false), Ok(true));
        assert!(matches!(
            check("commands/y.rhai", true),
            Err(EditError::Outside(_))
        ));
        assert_eq!(check("commands/inside.rhai", true), Ok(true));
        assert_eq!(check("commands/new.rhai", true), Ok(false));
    }
}
