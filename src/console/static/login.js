// The sign-in page: posts the pasted console token as JSON; the answer sets the session cookie.
"use strict";

document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const field = document.getElementById("token");
  const out = document.getElementById("login-error");
  out.textContent = "";
  let resp;
  try {
    resp = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: field.value.trim() }),
    });
  } catch (_) {
    out.textContent = "The bot is not answering. Is it still running?";
    return;
  }
  if (resp.ok) {
    field.value = "";
    window.location.replace("/");
    return;
  }
  let data = null;
  try { data = await resp.json(); } catch (_) { /* empty body */ }
  out.textContent = (data && data.error) || `HTTP ${resp.status}`;
});
