//! A line-level outline of a YAML file: where each key and list item sits and its dotted path.
//!
//! serde-saphyr reports a line and column but not which key was being read, and it has no DOM to
//! ask. The outline answers both directions a config error needs: "which key is at this
//! position" (for type errors) and "where is this key" (for checks made after parsing). It reads
//! block mappings and lists by indentation and single-line flow collections (`{a: 1}`, `[x, y]`);
//! it is a locator, not a parser, so anything it cannot read only makes a message less precise.

/// One key or list item: its 1-based position, its dotted path and where its value starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    line: u64,
    col: u64,
    path: String,
    value: Option<(u64, u64)>,
}

/// A block-level node still open at some indentation.
#[derive(Debug, Clone)]
enum Open {
    Key {
        indent: usize,
        path: String,
    },
    Item {
        indent: usize,
        index: usize,
        path: String,
    },
}

impl Open {
    fn indent(&self) -> usize {
        match self {
            Open::Key { indent, .. } | Open::Item { indent, .. } => *indent,
        }
    }
    fn path(&self) -> &str {
        match self {
            Open::Key { path, .. } | Open::Item { path, .. } => path,
        }
    }
}

/// Every key and list item of one file, in document order.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    entries: Vec<Entry>,
}

fn child_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn child_item(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

impl Outline {
    pub(crate) fn new(text: &str) -> Outline {
        let mut entries = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        // Set while inside a `|` or `>` block scalar: lines indented deeper than this are text.
        let mut block_scalar: Option<usize> = None;
        for (number, raw) in text.lines().enumerate() {
            let line_no = number as u64 + 1;
            let chars: Vec<char> = raw.chars().collect();
            // Tabs are not valid YAML indentation, but counting them lets the error name the key.
            let indent = chars
                .iter()
                .take_while(|c| **c == ' ' || **c == '\t')
                .count();
            let blank = chars[indent..]
                .iter()
                .all(|c| c.is_whitespace() || *c == '\r');
            if let Some(parent) = block_scalar {
                if blank || indent > parent {
                    continue;
                }
                block_scalar = None;
            }
            if blank || chars.get(indent) == Some(&'#') {
                continue;
            }
            if indent == 0 && (raw.starts_with("---") || raw.starts_with("...")) {
                stack.clear();
                continue;
            }
            let mut col = indent;
            // `- ` list items, possibly several on one line (`- - x`).
            while chars.get(col) == Some(&'-')
                && chars.get(col + 1).is_none_or(|c| *c == ' ' || *c == '\r')
            {
                let mut next_index = 0;
                while let Some(top) = stack.last() {
                    let same_item = matches!(top, Open::Item { indent, .. } if *indent == col);
                    if top.indent() > col || same_item {
                        if let Some(Open::Item { indent, index, .. }) = stack.pop()
                            && indent == col
                        {
                            next_index = index + 1;
                        }
                    } else {
                        break;
                    }
                }
                let parent = stack.last().map(Open::path).unwrap_or("").to_owned();
                let path = child_item(&parent, next_index);
                entries.push(Entry {
                    line: line_no,
                    col: col as u64 + 1,
                    path: path.clone(),
                    value: None,
                });
                stack.push(Open::Item {
                    indent: col,
                    index: next_index,
                    path,
                });
                col += 1;
                while chars.get(col) == Some(&' ') {
                    col += 1;
                }
            }
            let Some(&first) = chars.get(col) else {
                continue;
            };
            if first == '#' {
                continue;
            }
            if first == '{' || first == '[' {
                let parent = stack.last().map(Open::path).unwrap_or("").to_owned();
                scan_flow(&chars, col, line_no, &parent, &mut entries);
                continue;
            }
            let Some((key, after_colon)) = read_key(&chars, col) else {
                continue;
            };
            while stack.last().is_some_and(|top| top.indent() >= col) {
                stack.pop();
            }
            let parent = stack.last().map(Open::path).unwrap_or("").to_owned();
            let path = child_key(&parent, &key);
            let mut value_col = after_colon;
            while chars
                .get(value_col)
                .is_some_and(|c| *c == ' ' || *c == '\t')
            {
                value_col += 1;
            }
            let value = match chars.get(value_col) {
                None | Some('#') | Some('\r') => None,
                Some(_) => Some((line_no, value_col as u64 + 1)),
            };
            entries.push(Entry {
                line: line_no,
                col: col as u64 + 1,
                path: path.clone(),
                value,
            });
            match chars.get(value_col) {
                Some('|') | Some('>') => block_scalar = Some(col),
                Some('{') | Some('[') => scan_flow(&chars, value_col, line_no, &path, &mut entries),
                _ => {}
            }
            stack.push(Open::Key { indent: col, path });
        }
        Outline { entries }
    }

    /// The dotted path of the key or item being read at `line:col` (1-based); empty when the
    /// position precedes every key.
    pub(crate) fn path_at(&self, line: u64, col: u64) -> &str {
        self.entries
            .iter()
            .take_while(|e| (e.line, e.col) <= (line, col))
            .last()
            .map(|e| e.path.as_str())
            .unwrap_or("")
    }

    /// Every key path in the file (list items left out), for tests comparing files.
    #[cfg(test)]
    pub(crate) fn key_paths(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e.path.as_str())
            .filter(|p| !p.contains('['))
            .collect()
    }

    /// Where the value of `path` starts (or the key itself when its value is on later lines);
    /// falls back to the nearest ancestor present in the file.
    pub(crate) fn locate(&self, path: &str) -> Option<(u64, u64)> {
        let mut wanted = path;
        loop {
            if let Some(e) = self.entries.iter().find(|e| e.path == wanted) {
                return Some(e.value.unwrap_or((e.line, e.col)));
            }
            let cut = wanted.rfind(['.', '['])?;
            wanted = &wanted[..cut];
        }
    }
}

/// Reads `key:` at `start`, plain or quoted; returns the key and the index after the colon.
fn read_key(chars: &[char], start: usize) -> Option<(String, usize)> {
    let first = *chars.get(start)?;
    if first == '"' || first == '\'' {
        let end = skip_quoted(chars, start);
        let key: String = chars
            .get(start + 1..end.saturating_sub(1))?
            .iter()
            .collect();
        let colon = end;
        if chars.get(colon) == Some(&':') && chars.get(colon + 1).is_none_or(|c| c.is_whitespace())
        {
            return Some((key, colon + 1));
        }
        return None;
    }
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if c == '#' && i > start && chars[i - 1] == ' ' {
            return None;
        }
        if c == ':' && chars.get(i + 1).is_none_or(|c| c.is_whitespace()) {
            let key: String = chars[start..i].iter().collect();
            return Some((key.trim_end().to_owned(), i + 1));
        }
        i += 1;
    }
    None
}

/// Returns the index just past the quoted scalar starting at `start`.
fn skip_quoted(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if quote == '"' && c == '\\' {
            i += 2;
            continue;
        }
        if c == quote {
            // `''` inside single quotes is an escaped quote.
            if quote == '\'' && chars.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

/// A flow collection still open while scanning one line.
enum Flow {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

impl Flow {
    /// The path a value at the current position belongs to.
    fn here(&self) -> Option<String> {
        match self {
            Flow::Map { path, key } => key.as_ref().map(|k| child_key(path, k)),
            Flow::Seq { path, index } => Some(child_item(path, *index)),
        }
    }
}

/// Records the keys and items of a single-line flow collection starting at `start`.
fn scan_flow(chars: &[char], start: usize, line: u64, base: &str, entries: &mut Vec<Entry>) {
    let mut stack: Vec<Flow> = Vec::new();
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' | '[' => {
                let path = match stack.last() {
                    None => base.to_owned(),
                    Some(top) => top.here().unwrap_or_default(),
                };
                if let Some(Flow::Seq { .. }) = stack.last() {
                    push_item(entries, line, i, &path);
                }
                stack.push(if c == '{' {
                    Flow::Map { path, key: None }
                } else {
                    Flow::Seq { path, index: 0 }
                });
                i += 1;
            }
            '}' | ']' => {
                stack.pop();
                if stack.is_empty() {
                    return;
                }
                i += 1;
            }
            ',' => {
                match stack.last_mut() {
                    Some(Flow::Map { key, .. }) => *key = None,
                    Some(Flow::Seq { index, .. }) => *index += 1,
                    None => return,
                }
                i += 1;
            }
            ' ' | '\t' | '\r' => i += 1,
            '#' if i > 0 && chars[i - 1] == ' ' => return,
            _ => {
                let token_start = i;
                let end = if c == '"' || c == '\'' {
                    skip_quoted(chars, i)
                } else {
                    let mut j = i;
                    while j < chars.len() {
                        let d = chars[j];
                        if matches!(d, ',' | '{' | '}' | '[' | ']')
                            || (d == ':'
                                && chars
                                    .get(j + 1)
                                    .is_none_or(|n| n.is_whitespace() || matches!(n, ',' | '}')))
                        {
                            break;
                        }
                        j += 1;
                    }
                    j
                };
                let is_key = chars.get(end) == Some(&':');
                match stack.last_mut() {
                    Some(Flow::Map { path, key }) if key.is_none() && is_key => {
                        let raw: String = chars[token_start..end].iter().collect();
                        let name = raw.trim().trim_matches(['"', '\'']).to_owned();
                        let full = child_key(path, &name);
                        entries.push(Entry {
                            line,
                            col: token_start as u64 + 1,
                            path: full,
                            value: None,
                        });
                        *key = Some(name);
                        i = end + 1;
                        continue;
                    }
                    Some(Flow::Map { .. }) => {
                        if let Some(e) = entries.last_mut()
                            && e.value.is_none()
                        {
                            e.value = Some((line, token_start as u64 + 1));
                        }
                    }
                    Some(Flow::Seq { path, index }) => {
                        let p = child_item(path, *index);
                        push_item(entries, line, token_start, &p);
                    }
                    None => return,
                }
                i = end.max(i + 1);
            }
        }
    }
}

fn push_item(entries: &mut Vec<Entry>, line: u64, idx: usize, path: &str) {
    entries.push(Entry {
        line,
        col: idx as u64 + 1,
        path: path.to_owned(),
        value: Some((line, idx as u64 + 1)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# comment: not a key
username: mybot   # trailing
chat:
  rate_limit: normal
  nested:
    deep: 1
console: {bind: 127.0.0.1:8081, open_on_start: true}
list:
  - plain
  - name: a
    other: b
  - [x, {k: v}]
text: |
  looks: like a key
after: 2
seq_same_indent:
- one
- two
'quoted key': 3
";

    #[test]
    fn paths_follow_indentation_items_and_flow() {
        let o = Outline::new(TEXT);
        assert_eq!(o.path_at(2, 11), "username");
        assert_eq!(o.path_at(4, 15), "chat.rate_limit");
        assert_eq!(o.path_at(6, 11), "chat.nested.deep");
        assert_eq!(o.path_at(7, 17), "console.bind");
        assert_eq!(o.path_at(7, 33), "console.open_on_start");
        assert_eq!(o.path_at(9, 5), "list[0]");
        assert_eq!(o.path_at(10, 11), "list[1].name");
        assert_eq!(o.path_at(11, 12), "list[1].other");
        assert_eq!(o.path_at(12, 6), "list[2][0]");
        assert_eq!(o.path_at(12, 9), "list[2][1]");
        assert_eq!(o.path_at(12, 10), "list[2][1].k");
        assert_eq!(o.path_at(14, 5), "text");
        assert_eq!(o.path_at(15, 8), "after");
        assert_eq!(o.path_at(18, 3), "seq_same_indent[1]");
        assert_eq!(o.path_at(19, 1), "quoted key");
        assert_eq!(o.path_at(1, 1), "");
    }

    #[test]
    fn locate_points_at_values_and_falls_back_to_ancestors() {
        let o = Outline::new(TEXT);
        assert_eq!(o.locate("username"), Some((2, 11)));
        assert_eq!(o.locate("chat.nested"), Some((5, 3)));
        assert_eq!(o.locate("console.bind"), Some((7, 17)));
        assert_eq!(o.locate("console.missing"), Some((7, 10)));
        assert_eq!(o.locate("list[1].name"), Some((10, 11)));
        assert_eq!(o.locate("nowhere"), None);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a user saves, finding keys in it never panics.
        #[test]
        fn any_text_outlines_without_panicking(
            text in "([ \\t\\-:#'\"{}\\[\\],|>a-cé\\n]{0,12}){0,12}",
            line in 0u64..20,
            col in 0u64..20,
        ) {
            let o = Outline::new(&text);
            let _ = o.path_at(line, col);
            let _ = o.locate("a.b[0].c");
        }

        /// Loading arbitrary text gives a value or errors, never a panic.
        #[test]
        fn any_text_loads_or_errors(text in "([ \\t\\-:#'\"{}\\[\\],|>a-z0-9_\\n]{0,16}){0,10}") {
            let path = std::path::Path::new("x.yaml");
            let _ = crate::config::parse_str::<crate::config::BotConfig>(path, &text, false);
            let _ = crate::config::parse_str::<crate::config::ModerationConfig>(path, &text, false);
            let _ = crate::config::parse_str::<crate::config::Secrets>(path, &text, true);
        }
    }
}
