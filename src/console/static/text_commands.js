// twitch-bot console: the "Text commands" card (text commands, their counters, the regulars)
// and the "Script data" card (a script's store, such as the quotes). Uses api(), el() and
// result() from app.js; every value is set with textContent, never as HTML.
"use strict";

(function () {
  const byId = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  function cooldown(c) {
    if (!c.cooldown_secs && !c.user_cooldown_secs) return "none";
    return `${c.cooldown_secs} s / ${c.user_cooldown_secs} s per viewer`;
  }

  function fillForm(c) {
    byId("tc-name").value = c.name;
    byId("tc-text").value = c.text;
    byId("tc-level").value = c.level;
    byId("tc-cooldown").value = c.cooldown_secs;
    byId("tc-user-cooldown").value = c.user_cooldown_secs;
    byId("tc-text").focus();
  }

  function countCell(c) {
    const input = el("input", { type: "number", class: "tc-count", value: String(c.count), "aria-label": `count of !${c.name}` });
    const set = el("button", { class: "small", type: "button" }, "Set");
    set.addEventListener("click", () => act(set, "tc-result", () =>
      api("POST", `/api/text-commands/${enc(c.name)}/count`, { count: Number(input.value) }),
      (d) => `!${d.command.name} count is ${d.command.count}`).then(loadCommands));
    return el("td", {}, input, " ", set, c.counter ? el("small", { class: "muted" }, " counter") : null);
  }

  async function loadCommands() {
    const body = byId("tc-table").querySelector("tbody");
    let data;
    try { data = await api("GET", "/api/text-commands"); } catch (e) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" }, e.message)));
      return;
    }
    const list = data.commands || [];
    byId("tc-summary").textContent = `${list.length} command${list.length === 1 ? "" : "s"}`;
    if (!list.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "none yet: add one below, or type !cmd add <name> <text> in chat")));
      return;
    }
    body.replaceChildren(...list.map((c) => {
      const edit = el("button", { class: "small", type: "button" }, "Edit");
      edit.addEventListener("click", () => fillForm(c));
      const del = el("button", { class: "small", type: "button" }, "Delete");
      del.addEventListener("click", () => {
        if (!confirm(`Delete !${c.name}? (!cmd undo in chat brings it back)`)) return;
        act(del, "tc-result", () => api("DELETE", `/api/text-commands/${enc(c.name)}`), `!${c.name} deleted`).then(loadCommands);
      });
      const names = "!" + c.name + (c.aliases.length ? " (" + c.aliases.map((a) => "!" + a).join(" ") + ")" : "");
      return el("tr", { "data-command": c.name },
        el("td", {}, names), el("td", { class: "tc-text" }, c.text), el("td", {}, c.level),
        el("td", {}, cooldown(c)), countCell(c), el("td", {}, edit, " ", del));
    }));
  }

  async function loadRegulars() {
    const list = byId("regulars");
    try {
      const data = await api("GET", "/api/regulars");
      const rows = (data.regulars || []).map((r) => {
        const item = el("li", {}, r.login, r.source === "config" ? el("small", { class: "muted" }, " (moderation.yaml)") : null);
        if (r.source !== "config") {
          const rm = el("button", { class: "small", type: "button" }, "Remove");
          rm.addEventListener("click", () => act(rm, "reg-result", () => api("DELETE", `/api/regulars/${enc(r.login)}`), `${r.login} removed`).then(loadRegulars));
          item.append(" ", rm);
        }
        return item;
      });
      list.replaceChildren(...(rows.length ? rows : [el("li", { class: "muted" }, "none yet")]));
    } catch (e) {
      list.replaceChildren(el("li", { class: "muted" }, e.message));
    }
  }

  async function loadStore() {
    const script = byId("sd-script").value.trim();
    const body = byId("sd-table").querySelector("tbody");
    if (!script) return;
    let data;
    try { data = await api("GET", `/api/script-stores/${enc(script)}`); } catch (e) {
      result("sd-result", false, e.message);
      body.replaceChildren();
      return;
    }
    const entries = data.entries || [];
    if (!entries.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "3", class: "muted" }, "this script has stored nothing")));
      return;
    }
    body.replaceChildren(...entries.map((e) => {
      const edit = el("button", { class: "small", type: "button" }, "Edit");
      edit.addEventListener("click", () => {
        byId("sd-key").value = e.key;
        byId("sd-value").value = JSON.stringify(e.value, null, 1);
      });
      const del = el("button", { class: "small", type: "button" }, "Delete");
      del.addEventListener("click", () => {
        if (!confirm(`Delete the key ${e.key} of ${script}?`)) return;
        act(del, "sd-result", () => api("DELETE", `/api/script-stores/${enc(script)}/${enc(e.key)}`), `${e.key} deleted`).then(loadStore);
      });
      return el("tr", {}, el("td", {}, e.key), el("td", { class: "tc-text" }, JSON.stringify(e.value)), el("td", {}, edit, " ", del));
    }));
  }

  function start() {
    if (!byId("text-commands-card")) return;
    byId("tc-refresh").addEventListener("click", () => { loadCommands(); loadRegulars(); });
    byId("tc-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = byId("tc-name").value.trim().replace(/^!/, "").toLowerCase();
      const body = {
        text: byId("tc-text").value,
        level: byId("tc-level").value,
        cooldown_secs: Number(byId("tc-cooldown").value) || 0,
        user_cooldown_secs: Number(byId("tc-user-cooldown").value) || 0,
      };
      act(byId("tc-save"), "tc-result", () => api("PUT", `/api/text-commands/${enc(name)}`, body), (d) => `!${d.command.name} saved`)
        .then((d) => { if (d) loadCommands(); });
    });
    byId("reg-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const login = byId("reg-login").value.trim();
      act(byId("reg-add"), "reg-result", () => api("POST", "/api/regulars", { login }), `${login} is a regular`).then(loadRegulars);
    });
    byId("sd-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadStore(); });
    byId("sd-edit").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const script = byId("sd-script").value.trim();
      const key = byId("sd-key").value.trim();
      const raw = byId("sd-value").value;
      let value;
      try { value = JSON.parse(raw); } catch (_) { value = raw; } // plain text is stored as text
      act(byId("sd-save"), "sd-result", () => api("PUT", `/api/script-stores/${enc(script)}/${enc(key)}`, { value }), `${key} saved`).then(loadStore);
    });
    loadCommands();
    loadRegulars();
    loadStore();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
