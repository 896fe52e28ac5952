// twitch-bot console: talks to the bot only through the JSON API under /api/.
// Everything shown comes from chat or scripts, so text is always set with textContent, never HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function clock(ms) {
  const d = ms ? new Date(ms) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined || method !== "GET") {
    // Every action is JSON (the console refuses others), even one without fields.
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    banner("The bot is not answering. Is it still running?");
    throw new Error("the bot is not answering");
  }
  let data = null;
  try { data = await resp.json(); } catch (_) { /* empty body */ }
  if (resp.status === 401) banner("Signed out: sign in again at /login (paste the console token) or type /console where the bot runs for a new link.");
  if (!resp.ok) throw new Error((data && data.error) || `HTTP ${resp.status}`);
  banner(null);
  return data;
}

function banner(text) {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
}

function result(id, ok, text) {
  const r = $(id);
  r.className = "result " + (ok ? "ok" : "bad");
  r.textContent = text;
}

// Runs an action from a button or form, showing its outcome next to it.
async function act(button, resultId, fn, okText) {
  if (button) button.disabled = true;
  try {
    const data = await fn();
    result(resultId, true, typeof okText === "function" ? okText(data) : okText);
    return data;
  } catch (e) {
    result(resultId, false, e.message);
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- connections -------------------------------------------------------------------------
const SERVICE_NAMES = {
  chat: "Chat", event_sub: "EventSub", helix: "Twitch API", obs: "OBS",
  discord: "Discord", zmq: "ZeroMQ", sound: "Sound", console: "Console",
};

let offline = null;

async function loadHealth() {
  let h;
  try { h = await api("GET", "/api/health"); } catch (_) { return; }
  $("who").textContent = `#${h.channel} as ${h.bot}`;
  if (offline !== h.offline) {
    offline = h.offline;
    $("mode").hidden = !offline;
    $("sim-card").hidden = !offline;
    $("sim-off").hidden = offline;
    document.body.classList.toggle("online", !offline);
    const empty = $("log").querySelector(".empty");
    if (empty && offline) empty.textContent = "Waiting for chat and events… Try the simulator on the right: chat “!ping” as a viewer.";
  }
  showRaidMode(h.raid_mode);
  const list = $("health");
  list.replaceChildren(...h.services.map((s) => el("li", {},
    el("span", { class: "light " + s.state, title: s.state }),
    el("span", { class: "name" }, SERVICE_NAMES[s.service] || s.service),
    el("span", { class: "state" }, s.state),
    s.last_error ? el("span", { class: "err" }, s.last_error) : null,
    s.note ? el("span", { class: "note muted" }, s.note) : null,
  )));
  const fw = h.follow_wave;
  const waveBox = $("follow-wave");
  if (fw && fw.wave) {
    const w = fw.wave;
    const held = w.points === "drop" ? "points dropped" : `${w.held} held for payment`;
    waveBox.textContent = fw.active
      ? `Follow wave now: ${w.follows} follows from ${w.accounts} accounts in ${fw.lasted_secs} s; thanks and alerts paused, ${held}.`
      : `Last follow wave: ${w.follows} follows from ${w.accounts} accounts, ended ${new Date(w.ended_at * 1000).toLocaleTimeString()}.`;
    waveBox.className = fw.active ? "wave active" : "wave muted";
    if (fw.active) {
      waveBox.append(" ", el("button", { type: "button", id: "end-wave" }, "End it now"));
      $("end-wave").addEventListener("click", async () => {
        try { await api("POST", "/api/follow-waves/end", {}); } catch (_) { /* shown by the next poll */ }
        loadHealth();
      });
    }
    waveBox.hidden = false;
  } else {
    waveBox.hidden = true;
  }
}

// ---- raid mode ---------------------------------------------------------------------------
function showRaidMode(r) {
  const on = !!(r && r.active);
  $("raid-banner").hidden = !on;
  if (on) {
    const since = r.since_ms ? new Date(r.since_ms).toLocaleTimeString() : "";
    const what = [r.shield_mode ? "Shield Mode on" : null, r.chat_settings ? "chat settings changed" : null]
      .filter(Boolean).join(", ");
    $("raid-text").textContent = `Raid mode since ${since}: ${r.accounts} accounts tripped the filters` +
      (what ? ` · ${what}` : "") + ". It ends by itself after a quiet period.";
  }
  const missing = (r && r.missing_scopes) || [];
  $("raid-scopes").hidden = missing.length === 0;
  $("raid-scopes").textContent = missing.length
    ? `Raid mode lacks ${missing.join(", ")}: run twitch-bot auth again.` : "";
}

async function endRaidMode(ev) {
  const b = ev.currentTarget;
  b.disabled = true;
  try { await api("POST", "/api/moderation/raid-mode/end", {}); } catch (_) { /* the banner says why */ }
  b.disabled = false;
  loadHealth();
}

async function spamRaid(ev) {
  ev.preventDefault();
  const body = {
    accounts: Number($("raid-accounts").value),
    lines: Number($("raid-lines").value),
    text: $("raid-spam").value,
  };
  await act($("raid-start"), "raid-result", () => api("POST", "/api/sim/raid", body),
    `${body.accounts} accounts are spamming`);
  setTimeout(loadHealth, 1500);
}

// ---- live log ----------------------------------------------------------------------------
const LOG_MAX = 1000;

function roleTags(roles) {
  return (roles || []).filter((r) => r !== "turbo").map((r) => el("span", { class: "role" }, r));
}

function userName(u) {
  return u ? (u.display_name || u.login) : "someone";
}

const EVENT_TEXT = {
  follow: () => "followed",
  subscribe: (k) => `subscribed (${tierName(k.tier)})${k.is_gift ? ", a gift" : ""}`,
  resub: (k) => `resubscribed for ${k.months} months${k.message ? `: “${k.message}”` : ""}`,
  gift: (k) => `gifted ${k.count} sub${k.count === 1 ? "" : "s"}${k.anonymous ? " (anonymously)" : ""}`,
  cheer: (k) => `cheered ${k.bits} bits${k.message ? `: “${k.message}”` : ""}`,
  raid: (k) => `raided with ${k.viewers} viewers`,
  redemption: (k) => `redeemed “${k.reward_title}” (${k.cost})${k.user_input ? `: ${k.user_input}` : ""}`,
  stream_online: () => "stream went online",
  stream_offline: () => "stream went offline",
  channel_update: (k) => `title “${k.title}”, category ${k.category || "—"}`,
  first_message: (k) => `first message: ${k.text}`,
  poll_begin: (k) => `poll “${k.title}”: ${(k.choices || []).join(" / ")}`,
  poll_end: (k) => `poll “${k.title}” ended${k.winner ? `, winner ${k.winner}` : ""}`,
  prediction_begin: (k) => `prediction “${k.title}”: ${(k.outcomes || []).join(" / ")}`,
  prediction_end: (k) => `prediction “${k.title}” ended${k.winner ? `, winner ${k.winner}` : ""}`,
  hype_train_begin: (k) => `hype train started (level ${k.level})`,
  hype_train_end: (k) => `hype train ended at level ${k.level}`,
  ad_break: (k) => `ad break for ${k.duration_secs} s`,
};

function tierName(t) {
  return { prime: "Prime", tier1: "tier 1", tier2: "tier 2", tier3: "tier 3" }[t] || t;
}

// One log item as [class, ...content nodes].
function describe(item) {
  if (item.type === "sent") {
    const who = item.via === "chat" ? "bot →" : `${item.via}${item.target ? " " + item.target : ""} →`;
    return ["sent", el("span", { class: "who" }, who), " ", item.text];
  }
  if (item.type === "notice") {
    return [item.level === "error" || item.level === "warn" ? "error" : "system", item.text];
  }
  const ev = item.event || {};
  const d = ev.data || {};
  switch (ev.kind) {
    case "chat":
      return ["chat", ...roleTags(d.sender && d.sender.roles),
        el("span", { class: "who" }, userName(d.sender) + ":"), " ", d.action ? `* ${d.text}` : d.text];
    case "channel": {
      const kind = (d.kind && d.kind.type) || "event";
      const text = EVENT_TEXT[kind] ? EVENT_TEXT[kind](d.kind) : "";
      const who = d.user ? userName(d.user) + " " : "";
      return ["event", el("span", { class: "kind" }, kind.replace(/_/g, " ") + ":"), " ", who + text];
    }
    case "user_notice":
      return ["event", el("span", { class: "kind" }, "notice:"), " ", d.system_msg || (d.kind && d.kind.type) || "", d.text ? ` “${d.text}”` : ""];
    case "connection": {
      const s = d.state || {};
      return [s.state === "connected" ? "system" : "error",
        `${SERVICE_NAMES[d.service] || d.service}: ${s.state}${s.reason ? ` (${s.reason})` : ""}`];
    }
    case "clear_chat":
      return ["system", d.target_login ? `${d.target_login} was ${d.duration_secs ? `timed out for ${d.duration_secs} s` : "banned"}` : "chat was cleared"];
    case "clear_msg":
      return ["system", `message by ${d.login} deleted: ${d.text}`];
    case "notice":
      return ["system", `Twitch: ${d.text}`];
    default:
      return ["system", item.topic || ev.kind || "event"];
  }
}

function addLog(cls, ...content) {
  const log = $("log");
  const empty = log.querySelector(".empty");
  if (empty) empty.remove();
  log.append(el("li", { class: cls }, el("span", { class: "t" }, clock()), el("span", {}, ...content)));
  while (log.childElementCount > LOG_MAX) log.firstElementChild.remove();
  if ($("autoscroll").checked) log.scrollTop = log.scrollHeight;
}

function startLog() {
  const log = $("log");
  log.replaceChildren(el("li", { class: "empty" }, "Waiting for chat and events…"));
  const src = new EventSource("/api/events");
  src.onopen = () => { $("log-state").className = "dot"; $("log-state").title = "live"; };
  src.onerror = () => { $("log-state").className = "dot down"; $("log-state").title = "reconnecting"; };
  src.onmessage = (m) => {
    let item;
    try { item = JSON.parse(m.data); } catch (_) { return; }
    const [cls, ...content] = describe(item);
    addLog(cls, ...content);
    if (item.type === "event" && item.event && item.event.kind === "connection") loadHealth();
    const kind = item.event && item.event.data && item.event.data.kind && item.event.data.kind.type;
    if (kind === "stream_online" || kind === "stream_offline") setTimeout(loadStats, 1500);
  };
  src.addEventListener("lagged", (m) => {
    let n = "some";
    try { n = JSON.parse(m.data).missed; } catch (_) { /* keep "some" */ }
    addLog("error", `the log fell behind: ${n} events were skipped`);
  });
}

// ---- scripts and reloads -----------------------------------------------------------------
function showReloads(count, atMs) {
  $("reload-count").textContent = String(count);
  $("reload-time").textContent = atMs ? `· last ${clock(atMs)}` : "";
  const s = $("reload-status");
  s.classList.remove("flash");
  void s.offsetWidth; // restart the animation
  s.classList.add("flash");
}

function settingValue(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function errorCell(err) {
  if (!err) return el("td", { class: "status-ok" }, "✓ loaded");
  return el("td", { class: "status-bad" },
    el("code", { class: "loc", title: "file:line:column" }, `${err.file}:${err.line}:${err.col}`), " ", err.message);
}

async function loadScripts() {
  let r;
  try { r = await api("GET", "/api/scripts"); } catch (e) { return; }
  $("reload-count").textContent = String(r.reloads);
  $("reload-time").textContent = r.last_reload_ms ? `· last ${clock(r.last_reload_ms)}` : "";
  const failed = r.scripts.filter((s) => s.error).length;
  $("scripts-summary").textContent = `${r.scripts.length} loaded${failed ? `, ${failed} with errors` : ""} · reloaded ${r.reloads}×`;
  const body = $("scripts").tBodies[0];
  if (!r.scripts.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No scripts yet: add .rhai files under scripts/ and press Reload scripts.")));
    return;
  }
  body.replaceChildren(...r.scripts.map((s) => el("tr", { class: s.error ? "failed" : "" },
    el("td", {}, el("span", { class: "kind" }, s.kind)),
    el("td", { class: "mono" }, s.kind === "command" ? "!" + s.name : s.name),
    el("td", {}, ...Object.entries(s.settings || {}).map(([k, v]) => el("span", { class: "setting" }, `${k}: ${settingValue(v)}`))),
    errorCell(s.error),
  )));
}

async function reloadScripts(ev) {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    const r = await api("POST", "/api/scripts/reload");
    showReloads(r.reloads, r.at_ms);
    addLog(r.errors.length ? "error" : "system",
      `scripts reloaded (#${r.reloads}): ${r.loaded} loaded${r.errors.length ? `, ${r.errors.length} failed: ` + r.errors.map((e) => `${e.file}:${e.line}:${e.col} ${e.message}`).join("; ") : ""}`);
    await loadScripts();
  } catch (e) {
    addLog("error", `reload scripts failed: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

async function reloadConfigs(ev) {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    const r = await api("POST", "/api/configs/reload");
    if (r.errors.length) addLog("error", `configs NOT reloaded (the previous ones keep running): ${r.errors.join("; ")}`);
    else addLog("system", `configs reloaded (#${r.reloads}) at ${clock(r.at_ms)}`);
  } catch (e) {
    addLog("error", `reload configs failed: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

async function logoutAll(ev) {
  if (!window.confirm("Sign out every browser and replace the console token? Programs using the token need the new one from configs/secrets.yaml.")) return;
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api("POST", "/api/logout-all");
    window.location.replace("/login");
  } catch (e) {
    addLog("error", `sign out everywhere failed: ${e.message}`);
    btn.disabled = false;
  }
}

// ---- viewers and stats -------------------------------------------------------------------
async function loadLeaderboard() {
  const list = $("leaderboard");
  try {
    const rows = await api("GET", "/api/leaderboard?n=10");
    list.replaceChildren(...(rows.length ? rows.map((r) => el("li", {}, r.login, el("span", { class: "pts" }, `${r.points} pts`)))
      : [el("li", { class: "muted" }, "nobody has points yet")]));
  } catch (e) {
    list.replaceChildren(el("li", { class: "muted" }, e.message));
  }
}

function keyValues(obj) {
  if (obj === null || typeof obj !== "object") return el("span", {}, String(obj));
  const entries = Object.entries(obj);
  if (!entries.length) return el("span", { class: "muted" }, "nothing yet");
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of entries) {
    dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)));
  }
  return dl;
}

async function lookupUser(ev) {
  ev.preventDefault();
  const login = $("user-login").value.trim();
  const out = $("user-result");
  if (!login) return;
  try {
    out.replaceChildren(keyValues(await api("GET", `/api/users/${encodeURIComponent(login)}`)));
  } catch (e) {
    out.replaceChildren(el("span", { class: "status-bad" }, e.message));
  }
}

// Past streams (newest first) and the live one: pick one to see its chart and totals.
let statsSelected = null;

function durationText(secs) {
  const h = Math.floor(secs / 3600), m = Math.floor(secs / 60) % 60;
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
}

function streamKey(s) {
  return s.live ? "live" : s.report;
}

function streamTotals(s) {
  const subs = s.subs || {};
  return [
    ["Duration", durationText(s.duration_secs || 0)],
    ["Peak viewers", s.peak_viewers],
    ["Average viewers", s.average_viewers],
    ["Hours watched", s.hours_watched],
    ["Chat messages", s.chat_messages],
    ["Unique chatters", s.unique_chatters],
    ["Commands run", s.commands],
    ["New followers", s.follows],
    ["Subscriptions", `${s.subs_total} (T1 ${subs.tier1 || 0} · T2 ${subs.tier2 || 0} · T3 ${subs.tier3 || 0} · Prime ${subs.prime || 0})`],
    ["Resubs", s.resubs],
    ["Gifted subs", s.gifted_subs],
    ["Bits", s.bits],
    ["Raids", `${s.raids} (${s.raid_viewers} viewers)`],
    ["Redemptions", s.redemptions],
    ["Moderation actions", s.moderation_actions],
  ];
}

function showStream(s) {
  const title = s.title ? s.title : `stream ${s.stream_id}`;
  const chart = el("img", {
    class: "chart", src: `${s.chart}?t=${Date.now()}`, width: "960", height: "460",
    alt: `Viewers and chat lines per minute of ${title}`,
  });
  const table = el("table", { class: "totals" },
    ...streamTotals(s).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, String(v ?? 0)))));
  const files = s.live
    ? el("p", { class: "files" }, "Live now: the report is written to data/stats/ when the stream ends.")
    : el("p", { class: "files" }, `Report: data/stats/${s.report}.html (chart .svg, figures .json)`);
  return [el("div", {}, chart, s.ended_while_down
    ? el("p", { class: "files" }, "Ended while the bot was not running: the end time is when the bot last saw it live.") : null),
  el("div", {}, table, files)];
}

async function loadStats() {
  const box = $("stats");
  let r;
  try {
    r = await api("GET", "/api/stats");
  } catch (e) {
    box.replaceChildren(el("span", { class: "muted" }, e.message));
    return;
  }
  if (!Array.isArray(r.streams)) {
    box.replaceChildren(keyValues(r));
    return;
  }
  if (!r.enabled) {
    box.replaceChildren(el("p", { class: "muted" }, "Stream stats are off (stream.stats: false in configs/bot.yaml)."));
    return;
  }
  const streams = (r.live ? [Object.assign({ live: true }, r.live)] : []).concat(r.streams);
  $("stats-summary").textContent = `${r.streams.length} stream${r.streams.length === 1 ? "" : "s"} recorded${r.live ? " · live now" : ""}`;
  if (!streams.length) {
    box.replaceChildren(el("p", { class: "muted" }, offline
      ? "No stream recorded yet. In the simulator: Go live, chat and fire a few events, then End stream — the report appears here."
      : "No stream recorded yet: statistics are counted while the channel is live and shown here when it ends."));
    return;
  }
  if (!streams.some((s) => streamKey(s) === statsSelected)) statsSelected = streamKey(streams[0]);
  const current = streams.find((s) => streamKey(s) === statsSelected);
  const list = el("ul", { class: "streams", id: "stream-list" }, ...streams.map((s) => {
    const b = el("button", { type: "button", class: streamKey(s) === statsSelected ? "selected" : "" },
      el("span", { class: "when" }, s.date, s.live ? el("span", { class: "live" }, "LIVE") : null),
      el("span", { class: "what" }, `${s.title || "stream " + s.stream_id} · ${durationText(s.duration_secs || 0)} · peak ${s.peak_viewers}`));
    b.addEventListener("click", () => { statsSelected = streamKey(s); loadStats(); });
    return el("li", {}, b);
  }));
  box.replaceChildren(el("div", { class: "stats-grid" }, list, ...showStream(current)));
}

// ---- simulator ---------------------------------------------------------------------------
const TIER = { name: "tier", label: "tier", options: ["1000", "2000", "3000", "prime"] };
const EVENTS = [
  ["follow", "Follow", [], true],
  ["subscribe", "Sub", [TIER, { name: "is_gift", label: "a gift", check: true }], true],
  ["resub", "Resub", [TIER, { name: "months", value: 6 }, { name: "streak", value: 3 }, { name: "message", value: "Still here!" }], true],
  ["gift", "Gift subs", [TIER, { name: "count", value: 5 }, { name: "anonymous", check: true }], true],
  ["cheer", "Cheer", [{ name: "bits", value: 100 }, { name: "message", value: "Cheer100 nice play" }, { name: "anonymous", check: true }], true],
  ["raid", "Raid", [{ name: "viewers", value: 25 }], true],
  ["redemption", "Redeem", [{ name: "reward_title", label: "reward", value: "Hydrate" }, { name: "cost", value: 500 }, { name: "user_input", label: "viewer's text", value: "" }], true],
  ["stream_online", "Go live", [], false],
  ["stream_offline", "End stream", [], false],
  ["poll_begin", "Poll start", [{ name: "title", value: "Next game?" }, { name: "choices", value: "Celeste, Hades" }], false],
  ["poll_end", "Poll end", [{ name: "title", value: "Next game?" }, { name: "winner", value: "Hades" }], false],
  ["prediction_begin", "Prediction", [{ name: "title", value: "Boss first try?" }, { name: "outcomes", value: "Yes, No" }], false],
  ["prediction_end", "Prediction end", [{ name: "title", value: "Boss first try?" }, { name: "winner", value: "No" }], false],
  ["hype_train_begin", "Hype train", [{ name: "level", value: 1 }], false],
  ["hype_train_end", "Hype end", [{ name: "level", value: 3 }], false],
  ["ad_break", "Ad break", [{ name: "duration_secs", label: "seconds", value: 90 }], false],
];
let selectedEvent = "follow";

function selectEvent(kind) {
  selectedEvent = kind;
  const spec = EVENTS.find((e) => e[0] === kind);
  for (const b of $("event-buttons").children) b.classList.toggle("selected", b.dataset.kind === kind);
  const fields = $("event-fields");
  const inputs = [];
  if (spec[3]) inputs.push(el("label", {}, "viewer", el("input", { name: "user", value: $("sim-login").value || "bob", maxlength: "25" })));
  for (const f of spec[2]) {
    if (f.check) {
      const box = el("input", { type: "checkbox", name: f.name });
      inputs.push(el("label", { class: "check" }, box, f.label || f.name.replace(/_/g, " ")));
    } else if (f.options) {
      inputs.push(el("label", {}, f.label, el("select", { name: f.name }, ...f.options.map((o) => el("option", { value: o }, o)))));
    } else {
      inputs.push(el("label", {}, f.label || f.name, el("input", { name: f.name, value: String(f.value) })));
    }
  }
  if (!inputs.length) inputs.push(el("span", { class: "none" }, "No details needed."));
  fields.replaceChildren(...inputs);
  $("event-fire").textContent = `Fire ${spec[1].toLowerCase()}`;
}

async function fireEvent(ev) {
  ev.preventDefault();
  const body = { kind: selectedEvent };
  for (const input of $("event-fields").querySelectorAll("input, select")) {
    body[input.name] = input.type === "checkbox" ? input.checked : input.value;
  }
  const spec = EVENTS.find((e) => e[0] === selectedEvent);
  await act($("event-fire"), "event-result", () => api("POST", "/api/sim/event", body), `${spec[1]} sent`);
}

async function simChat(ev) {
  ev.preventDefault();
  const text = $("sim-text").value;
  if (!text.trim()) return;
  const roles = [...$("sim-roles").querySelectorAll("input:checked")].map((i) => i.value);
  const sent = await act($("sim-send"), "sim-chat-result",
    () => api("POST", "/api/sim/chat", { login: $("sim-login").value, roles, text }), "");
  if (sent) $("sim-text").value = "";
}

// ---- sending -----------------------------------------------------------------------------
async function say(ev) {
  ev.preventDefault();
  const text = $("say-text").value;
  if (!text.trim()) return;
  const sent = await act(ev.submitter, "say-result", () => api("POST", "/api/chat", { text }), "");
  if (sent) $("say-text").value = "";
}

async function discord(ev) {
  ev.preventDefault();
  const text = $("discord-text").value;
  if (!text.trim()) return;
  const target = $("discord-target").value.trim();
  const body = target ? { text, target } : { text };
  const sent = await act(ev.submitter, "discord-result", () => api("POST", "/api/discord", body), "Posted.");
  if (sent) $("discord-text").value = "";
}

async function zmq(ev) {
  ev.preventDefault();
  const raw = $("zmq-data").value.trim();
  let data = null;
  if (raw) {
    try { data = JSON.parse(raw); } catch (_) { data = raw; }
  }
  await act(ev.submitter, "zmq-result", () => api("POST", "/api/zmq", { topic: $("zmq-topic").value, data }), "Published.");
}

// ---- start -------------------------------------------------------------------------------
function start() {
  $("reload-scripts").addEventListener("click", reloadScripts);
  $("reload-configs").addEventListener("click", reloadConfigs);
  $("logout-all").addEventListener("click", logoutAll);
  $("obs-connect").addEventListener("click", (e) => act(e.currentTarget, "obs-result", () => api("POST", "/api/obs/connect"), "Connecting to OBS…").then(loadHealth));
  $("obs-disconnect").addEventListener("click", (e) => act(e.currentTarget, "obs-result", () => api("POST", "/api/obs/disconnect"), "Disconnected from OBS.").then(loadHealth));
  $("say-form").addEventListener("submit", say);
  $("discord-form").addEventListener("submit", discord);
  $("zmq-form").addEventListener("submit", zmq);
  $("sim-chat-form").addEventListener("submit", simChat);
  $("event-form").addEventListener("submit", fireEvent);
  $("raid-form").addEventListener("submit", spamRaid);
  $("raid-end").addEventListener("click", endRaidMode);
  $("user-form").addEventListener("submit", lookupUser);
  $("lb-refresh").addEventListener("click", loadLeaderboard);
  $("stats-refresh").addEventListener("click", loadStats);
  $("log-clear").addEventListener("click", () => $("log").replaceChildren());
  $("event-buttons").replaceChildren(...EVENTS.map(([kind, label]) => {
    const b = el("button", { type: "button", "data-kind": kind }, label);
    b.addEventListener("click", () => selectEvent(kind));
    return b;
  }));
  selectEvent("follow");
  startLog();
  loadHealth();
  loadScripts();
  loadLeaderboard();
  loadStats();
  setInterval(loadHealth, 5000);
  setInterval(loadScripts, 15000);
  setInterval(loadLeaderboard, 30000);
  setInterval(loadStats, 30000);
}

start();
