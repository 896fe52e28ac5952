//! The shape of `src/`: the top-level modules (each file or folder directly under `src/`) import
//! each other without cycles, and nothing below `app` imports `app`. The graph is read from the
//! source: every `crate::<module>` path outside comments and string literals is one edge
//! (`super::` paths are not read: in `src/` they stay inside their own top-level module).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Modules allowed to name `crate::app`. `app` starts everything, so nothing else may depend
/// on it; the binary (`main.rs`) reaches it as `twitch_bot::app`, which is not a `crate::` path.
const MAY_IMPORT_APP: &[&str] = &["app"];

/// Where an edge was seen: file (relative to the repository) and line.
type Seen = Vec<(String, usize)>;

/// The top-level import graph: module → imported module → where.
type Graph = BTreeMap<String, BTreeMap<String, Seen>>;

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {dir:?}: {e}"));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to; `None` for the crate roots.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src/");
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    if parts.next().is_some() {
        return Some(first);
    }
    match first.strip_suffix(".rs") {
        Some("lib" | "main") | None => None,
        Some(name) => Some(name.to_owned()),
    }
}

/// The source with comments (doc comments included), string literals and character literals
/// blanked out; newlines are kept so line numbers stay right.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && is_ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0usize;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) {
            // A raw string `r#"…"#` (or `br`), else an identifier starting with r or b.
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                for &ch in &c[i..=j] {
                    blank(&mut out, ch);
                }
                i = j + 1;
                while i < c.len() {
                    if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                        for _ in 0..=hashes {
                            out.push(' ');
                        }
                        i += hashes + 1;
                        break;
                    }
                    blank(&mut out, c[i]);
                    i += 1;
                }
            } else {
                while i < c.len() && is_ident(c[i]) {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if let Some(&ch) = c.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (c.get(i + 1) == Some(&'\\') || c.get(i + 2) == Some(&'\'')) {
            // A character literal; a lifetime (`'a`) has no closing quote and is left alone.
            out.push(' ');
            i += 1;
            if c.get(i) == Some(&'\\') {
                out.push(' ');
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            if is_ident(c[i]) && !prev_ident {
                while i < c.len() && is_ident(c[i]) {
                    out.push(c[i]);
                    i += 1;
                }
                continue;
            }
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Every top-level module a piece of code names through `crate::` (also inside
/// `crate::{a, b::c}`), with the line it is named on.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    // Tokens: identifiers, `::`, and single punctuation characters, each with its line.
    let mut tokens: Vec<(String, usize)> = Vec::new();
    let mut line = 1;
    let mut chars = code.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\n' {
            line += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let mut ident = ch.to_string();
            while let Some(&next) = chars.peek() {
                if !(next.is_alphanumeric() || next == '_') {
                    break;
                }
                ident.push(next);
                chars.next();
            }
            tokens.push((ident, line));
        } else if ch == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push(("::".into(), line));
        } else if !ch.is_whitespace() {
            tokens.push((ch.to_string(), line));
        }
    }
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        if tokens[i].0 != "crate" || tokens[i + 1].0 != "::" {
            i += 1;
            continue;
        }
        if tokens[i + 2].0 == "{" {
            // `crate::{a::x, b}`: the first name of each item at the group's own depth.
            let mut depth = 0usize;
            let mut item_start = true;
            let mut j = i + 2;
            while j < tokens.len() {
                match tokens[j].0.as_str() {
                    "{" => {
                        depth += 1;
                        item_start = depth == 1;
                    }
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "," if depth == 1 => item_start = true,
                    name if item_start && depth == 1 => {
                        found.push((name.to_owned(), tokens[j].1));
                        item_start = false;
                    }
                    _ => {}
                }
                j += 1;
            }
            i = j;
        } else {
            found.push(tokens[i + 2].clone());
            i += 3;
        }
    }
    found
}

fn graph() -> Graph {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for file in &files {
        let Some(from) = top_module(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let rel = file
            .strip_prefix(src.parent().expect("src/ has a parent"))
            .expect("file under the repository")
            .display()
            .to_string();
        for (to, line) in crate_paths(&code_only(&text)) {
            if to != from && modules.contains(&to) {
                let seen = graph.entry(from.clone()).or_default();
                seen.entry(to).or_default().push((rel.clone(), line));
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Kosaraju).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    fn order(g: &Graph, n: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
        if seen.insert(n.to_owned()) {
            for to in g[n].keys() {
                order(g, to, seen, out);
            }
            out.push(n.to_owned());
        }
    }
    fn collect(g: &Graph, n: &str, seen: &mut BTreeSet<String>, comp: &mut Vec<String>) {
        if seen.insert(n.to_owned()) {
            comp.push(n.to_owned());
            for (from, tos) in g {
                if tos.contains_key(n) {
                    collect(g, from, seen, comp);
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut finished = Vec::new();
    for n in graph.keys() {
        order(graph, n, &mut seen, &mut finished);
    }
    let mut seen = BTreeSet::new();
    let mut comps = Vec::new();
    for n in finished.iter().rev() {
        let mut comp = Vec::new();
        collect(graph, n, &mut seen, &mut comp);
        if comp.len() > 1 {
            comp.sort();
            comps.push(comp);
        }
    }
    comps
}

/// One shortest cycle through `start` inside `comp`, as `a → b → … → a`.
fn one_cycle(graph: &Graph, comp: &[String], start: &str) -> Vec<String> {
    let mut back: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.to_owned()]);
    while let Some(n) = queue.pop_front() {
        for to in graph[&n].keys().filter(|t| comp.contains(t)) {
            if to == start {
                let mut path = vec![start.to_owned(), n.clone()];
                let mut at = n.clone();
                while let Some(prev) = back.get(&at) {
                    path.push(prev.clone());
                    at = prev.clone();
                }
                path.reverse();
                path.rotate_right(1);
                path.push(start.to_owned());
                path.dedup();
                return path;
            }
            if !back.contains_key(to) && to != start {
                back.insert(to.clone(), n.clone());
                queue.push_back(to.clone());
            }
        }
    }
    vec![start.to_owned()]
}

fn describe(graph: &Graph) -> String {
    let mut text = String::new();
    for (from, tos) in graph {
        let names: Vec<&str> = tos.keys().map(String::as_str).collect();
        text.push_str(&format!("  {from} → {}\n", names.join(", ")));
    }
    text
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let graph = graph();
    let comps = cycles(&graph);
    if comps.is_empty() {
        // Shown with `--nocapture`: the graph as it is.
        println!("{}", describe(&graph));
        return;
    }
    let mut report = String::new();
    for comp in &comps {
        let path = one_cycle(&graph, comp, &comp[0]);
        report.push_str(&format!(
            "cycle among {{{}}}: {}\n",
            comp.join(", "),
            path.join(" → ")
        ));
        for pair in path.windows(2) {
            let seen = &graph[&pair[0]][&pair[1]];
            let (file, line) = &seen[0];
            report.push_str(&format!(
                "  {} → {}: {file}:{line} ({} place(s))\n",
                pair[0],
                pair[1],
                seen.len()
            ));
        }
    }
    panic!(
        "the top-level modules of src/ import each other in a cycle; move the shared item \
         down into a lower module or invert the call.\n{report}\nthe whole graph:\n{}",
        describe(&graph)
    );
}

/// Every import of `app` from a module not in [`MAY_IMPORT_APP`], with where it is.
fn app_importers(graph: &Graph) -> Vec<String> {
    let mut offenders = Vec::new();
    for (from, tos) in graph {
        if let Some(seen) = tos.get("app")
            && !MAY_IMPORT_APP.contains(&from.as_str())
        {
            let (file, line) = &seen[0];
            offenders.push(format!("  {from} imports app at {file}:{line}"));
        }
    }
    offenders
}

#[test]
fn nothing_below_app_imports_app() {
    let offenders = app_importers(&graph());
    assert!(
        offenders.is_empty(),
        "`app` starts the bot; nothing below it may import it:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_reader_sees_paths_but_not_comments_or_strings() {
    let text = "//! see crate::a\n/// crate::b\n/* crate::c /* crate::d */ */\n\
        let s = \"crate::e\"; let r = r#\"crate::f\"#; let q = '\"';\n\
        use crate::g::X; fn f<'a>() { crate::h::call(); }\nuse crate::{i::Y, j};\n";
    let found: Vec<String> = crate_paths(&code_only(text))
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(found, ["g", "h", "i", "j"]);
    let lines: Vec<usize> = crate_paths(&code_only(text))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines, [5, 5, 6, 6]);
}

#[test]
fn the_checks_see_a_cycle_and_an_import_of_app() {
    let edge = |to: &str| (to.to_owned(), vec![("src/x.rs".to_owned(), 1)]);
    let graph: Graph = [
        ("app", vec![edge("a")]),
        ("a", vec![edge("b")]),
        ("b", vec![edge("c")]),
        ("c", vec![edge("a"), edge("app")]),
        ("d", vec![edge("a")]),
    ]
    .into_iter()
    .map(|(m, tos)| (m.to_owned(), tos.into_iter().collect()))
    .collect();
    let comps = cycles(&graph);
    assert_eq!(comps, [["a", "app", "b", "c"]]);
    assert_eq!(
        one_cycle(&graph, &comps[0], "a"),
        ["a", "b", "c", "a"],
        "the shortest way round"
    );
    assert_eq!(app_importers(&graph), ["  c imports app at src/x.rs:1"]);
}
