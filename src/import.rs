//! `twitch-bot import <file>`: points exports of other bots (StreamElements, Streamlabs Chatbot,
//! or a plain `login,points` CSV) into the points ledger.
//!
//! The whole file is checked first; any bad row fails the import with every bad line listed and
//! nothing written. A good file lands in one transaction, and importing it again changes nothing
//! (see [`Storage::import_balances`]).

use std::collections::HashMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::storage::{ImportBalance, ImportTotals, Storage, StorageError};

/// Which bot wrote the export (decides the source name recorded for idempotence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// StreamElements loyalty export (`username,points,...`, often with `alltime`/`watchtime`).
    StreamElements,
    /// Streamlabs Chatbot currency export (`Name,Rank,Points,Hours`).
    StreamlabsChatbot,
    /// `login,points`, with or without a header.
    Plain,
}

impl ImportFormat {
    /// The source name stored with imported balances.
    pub fn source(self) -> &'static str {
        match self {
            ImportFormat::StreamElements => "streamelements",
            ImportFormat::StreamlabsChatbot => "streamlabs-chatbot",
            ImportFormat::Plain => "csv",
        }
    }
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong with it, and what the row should look like.
    pub problem: String,
}

/// Every bad row of a rejected file, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRows(pub Vec<BadRow>);

impl fmt::Display for BadRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  line {}: {}", r.line, r.problem)?;
        }
        Ok(())
    }
}

/// Why an import failed; in every case nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file holds no rows.
    #[error("{} has no rows to import", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Some rows do not parse; every bad row is listed.
    #[error("{}: {} bad row(s), nothing was imported:\n{rows}", path.display(), rows.0.len())]
    BadRows {
        /// The file.
        path: PathBuf,
        /// The rows that do not parse, with why.
        rows: BadRows,
    },
    /// The header matches no known export, and the rows are not `login,points`.
    #[error("{}: cannot tell which columns hold the login and the points; expected a header \
             like `username,points` (StreamElements), `Name,Rank,Points,Hours` (Streamlabs \
             Chatbot) or rows of `login,points`", path.display())]
    UnknownLayout {
        /// The file.
        path: PathBuf,
    },
    /// Writing the balances failed; the transaction was rolled back.
    #[error("importing {} failed, nothing was imported: {source}", path.display())]
    Storage {
        /// The file.
        path: PathBuf,
        /// What the storage layer said.
        source: StorageError,
    },
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedImport {
    /// Which bot's export the file is.
    pub format: ImportFormat,
    /// The balances read, one per viewer.
    pub rows: Vec<ImportBalance>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Which bot's export the file was.
    pub format: ImportFormat,
    /// How many rows were imported.
    pub rows: usize,
    /// Points and viewers before and after.
    pub totals: ImportTotals,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        write!(
            f,
            "imported {} rows ({} format): {} balances changed, {} already up to date, \
             {} new viewers, {:+} points in total",
            self.rows,
            self.format.source(),
            t.changed,
            t.unchanged,
            t.new_users,
            t.points_added
        )
    }
}

/// Splits CSV text into records with the line each starts on. Handles quotes (with `""`
/// escapes and line breaks inside), CRLF and a UTF-8 byte-order mark.
///
/// # Errors
/// An unterminated quote, as a bad row.
pub fn split_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, BadRow> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if !(fields.len() == 1 && fields.first().is_some_and(|f| f.trim().is_empty())) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(BadRow {
            line: start_line,
            problem: "a quoted field is never closed".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

const LOGIN_HEADERS: &[&str] = &["username", "user name", "name", "user", "login", "viewer"];
const POINTS_HEADERS: &[&str] = &["points", "current points", "currency", "balance", "amount"];
const ID_HEADERS: &[&str] = &[
    "userid",
    "user id",
    "user_id",
    "twitch id",
    "twitch_id",
    "id",
];

fn find_col(header: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| {
        header
            .iter()
            .position(|h| h.trim().trim_start_matches('_').eq_ignore_ascii_case(n))
    })
}

/// Twitch logins are 1–25 characters of ASCII letters, digits and underscores.
fn valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 25 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whole points; a decimal with only zeros after the point (`120.0`) is accepted because
/// spreadsheet round trips write them.
fn parse_points(s: &str) -> Option<u64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b == b'0') || whole.is_empty() {
        return None;
    }
    whole.parse().ok()
}

/// Reads an export: detects the layout, checks every row and collects every problem.
///
/// # Errors
/// [`ImportError::BadRows`] listing each bad line; [`ImportError::UnknownLayout`];
/// [`ImportError::Empty`].
pub fn parse(path: &Path, text: &str) -> Result<ParsedImport, ImportError> {
    let records = split_csv(text).map_err(|r| ImportError::BadRows {
        path: path.to_path_buf(),
        rows: BadRows(vec![r]),
    })?;
    let Some((_, first)) = records.first() else {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    };
    let headerless = first.len() == 2 && first.get(1).and_then(|p| parse_points(p)).is_some();
    let (format, login_col, points_col, id_col, body) = if headerless {
        (ImportFormat::Plain, 0, 1, None, &records[..])
    } else {
        let (Some(l), Some(p)) = (
            find_col(first, LOGIN_HEADERS),
            find_col(first, POINTS_HEADERS),
        ) else {
            return Err(ImportError::UnknownLayout {
                path: path.to_path_buf(),
            });
        };
        let has = |n: &str| first.iter().any(|h| h.trim().eq_ignore_ascii_case(n));
        let format = if has("rank") && has("hours") {
            ImportFormat::StreamlabsChatbot
        } else if first.len() == 2 {
            ImportFormat::Plain
        } else {
            ImportFormat::StreamElements
        };
        (
            format,
            l,
            p,
            find_col(first, ID_HEADERS),
            records.get(1..).unwrap_or_default(),
        )
    };
    let width = first.len();
    let mut rows = Vec::with_capacity(body.len());
    let mut bad = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, rec) in body {
        if rec.len() != width {
            bad.push(BadRow {
                line: *line,
                problem: format!("expected {width} columns, found {}", rec.len()),
            });
            continue;
        }
        let raw_login = rec.get(login_col).map(String::as_str).unwrap_or("");
        let login = raw_login
            .trim()
            .trim_start_matches('@')
            .to_ascii_lowercase();
        let raw_points = rec.get(points_col).map(String::as_str).unwrap_or("");
        if !valid_login(&login) {
            bad.push(BadRow {
                line: *line,
                problem: format!("`{raw_login}` is not a Twitch login"),
            });
            continue;
        }
        let Some(points) = parse_points(raw_points) else {
            bad.push(BadRow {
                line: *line,
                problem: format!("`{}` is not a whole number of points", raw_points.trim()),
            });
            continue;
        };
        if let Some(prev) = seen.insert(login.clone(), *line) {
            bad.push(BadRow {
                line: *line,
                problem: format!("`{login}` appears again (first on line {prev})"),
            });
            continue;
        }
        let user_id = id_col
            .and_then(|c| rec.get(c))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        rows.push(ImportBalance {
            login,
            user_id,
            points,
        });
    }
    if !bad.is_empty() {
        return Err(ImportError::BadRows {
            path: path.to_path_buf(),
            rows: BadRows(bad),
        });
    }
    if rows.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(ParsedImport { format, rows })
}

/// Imports a file, calling `progress(done, total)` as rows are applied.
///
/// # Errors
/// See [`ImportError`]; nothing is imported on any error.
pub fn import_file(
    storage: &Storage,
    path: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportSummary, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = parse(path, &text)?;
    let total = parsed.rows.len();
    let totals = storage
        .import_balances(parsed.format.source(), &parsed.rows, |done| {
            progress(done, total)
        })
        .map_err(|source| ImportError::Storage {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(ImportSummary {
        format: parsed.format,
        rows: total,
        totals,
    })
}

/// The `import` subcommand: imports with a progress bar on stderr (when it is a terminal) and
/// prints the summary on stdout.
///
/// # Errors
/// See [`ImportError`].
pub fn run(storage: &Storage, path: &Path) -> Result<ImportSummary, ImportError> {
    let tty = std::io::stderr().is_terminal();
    let summary = import_file(storage, path, |done, total| {
        if tty {
            let width = 30;
            let filled = (done * width).checked_div(total).unwrap_or(width);
            let bar = format!(
                "{}{}",
                "#".repeat(filled),
                ".".repeat(width - filled.min(width))
            );
            let mut err = std::io::stderr();
            let _ = write!(err, "\rimporting [{bar}] {done}/{total}");
            if done == total {
                let _ = writeln!(err);
            }
        }
    })?;
    println!("{summary}");
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_line_numbers() {
        let recs =
            split_csv("\u{feff}a,b\r\n\"x,\"\"y\"\"\",2\n\n\"multi\nline\",3\nlast,4").unwrap();
        let lines: Vec<usize> = recs.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 2, 4, 6]);
        assert_eq!(recs[1].1, vec!["x,\"y\"".to_string(), "2".into()]);
        assert_eq!(recs[2].1[0], "multi\nline");
        assert_eq!(split_csv("a,\"b\n").unwrap_err().line, 1);
    }

    #[test]
    fn layouts_are_detected() {
        let p = Path::new("x.csv");
        let se = parse(p, "username,points,alltime\nAlice,10,20\n").unwrap();
        assert_eq!(se.format, ImportFormat::StreamElements);
        assert_eq!(se.rows[0].login, "alice");
        let sl = parse(p, "Name,Rank,Points,Hours\nbob,Viewer,120.0,3.5\n").unwrap();
        assert_eq!(sl.format, ImportFormat::StreamlabsChatbot);
        assert_eq!(sl.rows[0].points, 120);
        let plain = parse(p, "carol,5\ndave,6\n").unwrap();
        assert_eq!(plain.format, ImportFormat::Plain);
        assert_eq!(plain.rows.len(), 2);
        assert!(matches!(
            parse(p, "foo,bar,baz\n1,2,3\n"),
            Err(ImportError::UnknownLayout { .. })
        ));
    }
}
