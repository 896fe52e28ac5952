// The console's script editor: lists the .rhai files, opens one in a highlighted editor, saves
// it (the bot compiles it first: a broken file is not written and its error's line:col shows
// here), shows both versions when the file changed on disk meanwhile, and creates new scripts
// from the bundled examples. Uses app.js's helpers ($, el, loadScripts); text only, never HTML.
"use strict";

const editor = {
  path: null,       // the open file, relative to scripts/
  modified: null,   // its stamp when read (a save's precondition)
  saved: "",        // the source as last read or saved
  errorLine: 0,     // the compile error's line to mark, 0 for none
  conflict: null,   // what is on disk, after a 409
};

// A request whose refusals (422, 409) carry data the editor shows: answers {status, data}.
async function editorRequest(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    return { status: 0, data: { error: "the bot is not answering" } };
  }
  let data = null;
  try { data = await resp.json(); } catch (_) { data = {}; }
  return { status: resp.status, data: data || {} };
}

function editorStatus(kind, text) {
  const s = $("script-status");
  s.className = "editor-status " + kind;
  s.textContent = text;
}

function editorRender() {
  RhaiHighlight.render($("script-hl"), $("script-source").value, editor.errorLine);
  editorScroll();
}

function editorScroll() {
  const ta = $("script-source");
  const hl = $("script-hl-pre");
  hl.scrollTop = ta.scrollTop;
  hl.scrollLeft = ta.scrollLeft;
}

function editorDirty() {
  return editor.path !== null && $("script-source").value !== editor.saved;
}

function fileLabel(f) {
  if (f.status === "error" && f.error) return `✗ ${f.error.line}:${f.error.col}`;
  if (f.status === "loaded") return "✓ live";
  return "not loaded";
}

async function loadScriptFiles() {
  const { status, data } = await editorRequest("GET", "/api/scripts");
  const list = $("script-files");
  if (status !== 200) return;
  if (!Array.isArray(data.files)) {
    list.replaceChildren(el("li", { class: "muted" }, "This console does not edit scripts."));
    return;
  }
  $("script-files-summary").textContent = `${data.files.length} files`;
  list.replaceChildren(...data.files.map((f) => {
    const b = el("button", { type: "button", "data-path": f.path, class: f.path === editor.path ? "selected" : "" },
      el("span", { class: "file-path" }, f.path),
      el("span", { class: "file-state " + f.status }, fileLabel(f)));
    if (f.error) b.title = `${f.error.line}:${f.error.col}: ${f.error.message}`;
    b.addEventListener("click", () => openScript(f.path));
    return el("li", {}, b);
  }));
}

async function openScript(path) {
  if (editorDirty() && !window.confirm(`Discard the unsaved changes to ${editor.path}?`)) return;
  const { status, data } = await editorRequest("GET", "/api/scripts/file?path=" + encodeURIComponent(path));
  if (status !== 200) {
    editorStatus("bad", data.error || `HTTP ${status}`);
    return;
  }
  editor.path = data.path;
  editor.modified = data.modified;
  editor.saved = data.source;
  editor.errorLine = 0;
  showConflict(null);
  $("script-source").value = data.source;
  $("script-source").disabled = false;
  $("script-save").disabled = false;
  $("script-name").textContent = data.path;
  editorStatus("", "opened");
  editorRender();
  for (const b of $("script-files").querySelectorAll("button")) {
    b.classList.toggle("selected", b.dataset.path === editor.path);
  }
}

async function saveScript() {
  if (editor.path === null) return;
  const source = $("script-source").value;
  $("script-save").disabled = true;
  editorStatus("", "saving…");
  const { status, data } = await editorRequest("PUT", "/api/scripts/file",
    { path: editor.path, source, modified: editor.modified });
  $("script-save").disabled = false;
  if (status === 200) {
    editor.modified = data.modified;
    editor.saved = source;
    editor.errorLine = 0;
    showConflict(null);
    editorStatus("ok", `saved, live (${clock()})`);
    editorRender();
    loadScriptFiles();
    if (typeof loadScripts === "function") loadScripts();
  } else if (status === 422) {
    editor.errorLine = data.line || 0;
    editorStatus("bad", `not saved: compile error at line ${data.line}:${data.column}: ${data.message} (the running version stays)`);
    editorRender();
  } else if (status === 409) {
    showConflict(data.current || null);
    editorStatus("bad", data.error || "the file changed on disk");
  } else {
    editorStatus("bad", data.error || `HTTP ${status}`);
  }
}

// After a 409: what is on disk now next to the draft (which stays in the editor).
function showConflict(current) {
  editor.conflict = current;
  const box = $("script-conflict");
  box.hidden = current === null;
  if (current === null) return;
  $("conflict-disk").textContent = current.source;
  $("conflict-draft").textContent = $("script-source").value;
}

function keepDraft() {
  if (!editor.conflict) return;
  // Saving again replaces the version on disk that was just shown.
  editor.modified = editor.conflict.modified;
  showConflict(null);
  editorStatus("", "your draft is kept: save again to replace the version on disk");
}

function takeDisk() {
  if (!editor.conflict) return;
  editor.modified = editor.conflict.modified;
  editor.saved = editor.conflict.source;
  $("script-source").value = editor.conflict.source;
  showConflict(null);
  editor.errorLine = 0;
  editorStatus("", "loaded the version on disk");
  editorRender();
}

async function loadTemplates() {
  const { status, data } = await editorRequest("GET", "/api/scripts/templates");
  if (status !== 200 || !Array.isArray(data.templates)) return;
  $("template-select").replaceChildren(...data.templates.map((t) =>
    el("option", { value: t.id }, `${t.id} — ${t.summary}`)));
}

async function newScript(ev) {
  ev.preventDefault();
  const template = $("template-select").value;
  const kind = template.split("/")[0];
  const name = $("new-name").value.trim();
  const { status, data } = await editorRequest("POST", "/api/scripts/new", { kind, name, template });
  const r = $("new-result");
  if (status === 201) {
    r.className = "result ok";
    r.textContent = `created ${data.path}, live`;
    await loadScriptFiles();
    await openScript(data.path);
  } else if (status === 422) {
    r.className = "result bad";
    r.textContent = `not created: ${data.line}:${data.column}: ${data.message}`;
  } else {
    r.className = "result bad";
    r.textContent = data.error || `HTTP ${status}`;
  }
}

function editorKeys(ev) {
  if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
    ev.preventDefault();
    saveScript();
  } else if (ev.key === "Tab" && !ev.shiftKey) {
    // Indent instead of leaving the editor.
    ev.preventDefault();
    const ta = ev.currentTarget;
    ta.setRangeText("    ", ta.selectionStart, ta.selectionEnd, "end");
    editorInput();
  }
}

let renderQueued = false;
function editorInput() {
  if (editorDirty()) editorStatus("", "unsaved changes");
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; editorRender(); });
}

function startEditor() {
  const ta = $("script-source");
  ta.addEventListener("input", editorInput);
  ta.addEventListener("scroll", editorScroll);
  ta.addEventListener("keydown", editorKeys);
  $("script-save").addEventListener("click", saveScript);
  $("conflict-keep").addEventListener("click", keepDraft);
  $("conflict-disk-take").addEventListener("click", takeDisk);
  $("new-toggle").addEventListener("click", () => {
    $("new-form").hidden = !$("new-form").hidden;
    if (!$("new-form").hidden) $("new-name").focus();
  });
  $("new-form").addEventListener("submit", newScript);
  window.addEventListener("beforeunload", (ev) => {
    if (editorDirty()) ev.preventDefault();
  });
  editorRender();
  loadScriptFiles();
  loadTemplates();
  setInterval(loadScriptFiles, 15000);
}

startEditor();
