// A small Rhai highlighter for the console's script editor: splits source into tokens
// (comments, strings with their ${…} parts, numbers, keywords, constants, function names) and
// builds text nodes and <span>s from them. It never parses HTML: every piece of the source is set
// as text, so a script cannot inject markup into the page.
"use strict";

const RhaiHighlight = (() => {
  const KEYWORDS = new Set([
    "let", "const", "fn", "if", "else", "switch", "while", "loop", "for", "in", "do", "until",
    "break", "continue", "return", "throw", "try", "catch", "import", "export", "as", "private",
    "global", "this", "is", "Fn", "call", "curry", "type_of", "print", "debug", "is_def_var",
    "is_def_fn", "is_shared",
  ]);
  const LITERALS = new Set(["true", "false"]);
  const IDENT_START = /[A-Za-z_]/;
  const IDENT = /[A-Za-z0-9_]/;
  const NUMBER = /^(?:0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9]+)?)/;

  // Tokens of `src` from `i` on; inside a `${…}` part it stops at the brace that closes it.
  // Returns [tokens, index after the last one].
  function lex(src, i, inInterp) {
    const out = [];
    let depth = 0;
    let prevWord = "";
    const push = (type, text) => { if (text) out.push({ type, text }); };
    while (i < src.length) {
      const c = src[i];
      const next = src[i + 1];
      if (c === "/" && next === "/") {
        const end = src.indexOf("\n", i);
        const stop = end < 0 ? src.length : end;
        push("comment", src.slice(i, stop));
        i = stop;
        continue;
      }
      if (c === "/" && next === "*") {
        // Rhai's block comments nest.
        let j = i + 2;
        let level = 1;
        while (j < src.length && level > 0) {
          if (src[j] === "/" && src[j + 1] === "*") { level++; j += 2; }
          else if (src[j] === "*" && src[j + 1] === "/") { level--; j += 2; }
          else j++;
        }
        push("comment", src.slice(i, j));
        i = j;
        continue;
      }
      if (c === "\"" || c === "'") {
        let j = i + 1;
        while (j < src.length && src[j] !== c && src[j] !== "\n") {
          j += src[j] === "\\" ? 2 : 1;
        }
        j = Math.min(j + 1, src.length);
        push("string", src.slice(i, j));
        i = j;
        continue;
      }
      if (c === "#" && (next === "\"" || next === "#")) {
        // A raw string: #"…"#, ##"…"##, …
        let hashes = 0;
        while (src[i + hashes] === "#") hashes++;
        if (src[i + hashes] === "\"") {
          const close = "\"" + "#".repeat(hashes);
          const end = src.indexOf(close, i + hashes + 1);
          const stop = end < 0 ? src.length : end + close.length;
          push("string", src.slice(i, stop));
          i = stop;
          continue;
        }
      }
      if (c === "`") {
        i = template(src, i, out);
        continue;
      }
      if (/[0-9]/.test(c)) {
        const m = NUMBER.exec(src.slice(i, i + 64));
        const text = m ? m[0] : c;
        push("number", text);
        i += text.length;
        continue;
      }
      if (IDENT_START.test(c)) {
        let j = i + 1;
        while (j < src.length && IDENT.test(src[j])) j++;
        const word = src.slice(i, j);
        let type = "ident";
        if (KEYWORDS.has(word)) type = "keyword";
        else if (LITERALS.has(word)) type = "literal";
        else if (prevWord === "fn") type = "function";
        else if (/^[A-Z][A-Z0-9_]*$/.test(word) && word.length > 1) type = "constant";
        push(type, word);
        prevWord = word;
        i = j;
        continue;
      }
      if (inInterp) {
        if (c === "{") depth++;
        if (c === "}") {
          if (depth === 0) return [out, i];
          depth--;
        }
      }
      if (!/\s/.test(c)) prevWord = "";
      // Plain text runs (spaces, operators, punctuation) stay one token.
      let j = i + 1;
      while (j < src.length && /[\s;,.()[\]=+\-*<>!&|:?%^~]/.test(src[j]) && src[j] !== "/") j++;
      push("plain", src.slice(i, j));
      i = j;
    }
    return [out, i];
  }

  // A backtick string from `i`, with its ${…} parts lexed as code; returns the index after it.
  function template(src, i, out) {
    let start = i;
    let j = i + 1;
    while (j < src.length && src[j] !== "`") {
      if (src[j] === "\\") { j += 2; continue; }
      if (src[j] === "$" && src[j + 1] === "{") {
        out.push({ type: "string", text: src.slice(start, j) });
        out.push({ type: "interp", text: "${" });
        const [inner, end] = lex(src, j + 2, true);
        out.push(...inner);
        if (end < src.length) out.push({ type: "interp", text: "}" });
        j = end + 1;
        start = j;
        continue;
      }
      j++;
    }
    j = Math.min(j + 1, src.length);
    if (j > start) out.push({ type: "string", text: src.slice(start, j) });
    return j;
  }

  function tokenize(src) {
    return lex(String(src), 0, false)[0];
  }

  // Fills `target` with the highlighted source, one <span class="line"> per line;
  // `errorLine` (1-based) is marked.
  function render(target, src, errorLine) {
    const frag = document.createDocumentFragment();
    let lineNo = 1;
    let line = document.createElement("span");
    line.className = "line";
    const finishLine = () => {
      if (lineNo === errorLine) line.classList.add("error-line");
      frag.append(line);
    };
    for (const tok of tokenize(src)) {
      const parts = tok.text.split("\n");
      parts.forEach((part, k) => {
        if (k > 0) {
          line.append("\n");
          finishLine();
          lineNo++;
          line = document.createElement("span");
          line.className = "line";
        }
        if (!part) return;
        if (tok.type === "plain" || tok.type === "ident") {
          line.append(part);
        } else {
          const s = document.createElement("span");
          s.className = "tok-" + tok.type;
          s.textContent = part;
          line.append(s);
        }
      });
    }
    // A trailing newline in a <textarea> shows an empty last line: keep the heights equal.
    line.append("\u200b");
    finishLine();
    target.replaceChildren(frag);
  }

  return { tokenize, render };
})();
