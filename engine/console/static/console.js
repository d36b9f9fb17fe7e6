// Shared by the console's pages (index.html, warning.html, analyst.html): labels, fetch with the
// login redirect, the user's name, and the closed-loop acts (签收/分流/办结, engine/actions.py).
"use strict";
const LV = {red: "红色", orange: "橙色", yellow: "黄色", blue: "蓝色"};
const LV_RANK = {red: 4, orange: 3, yellow: 2, blue: 1};
const ST = {new: "新预警", acknowledged: "已签收", dispatched: "已分流", handling: "处置中", closed: "已办结"};
const ACT = {ack: "签收", dispatch: "分流", handling: "开始处置", close: "办结", sla_breach: "超时督办"};
const OUT = {resolved: "化解", mediation_failed: "调解失败", escalated_criminal: "民转刑", false_alarm: "误报"};
const NEXT = {new: ["ack"], acknowledged: ["dispatch", "close"], dispatched: ["dispatch", "handling", "close"],
              handling: ["close"], closed: []};
const Y = {me: null, auth: false};

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function time(s) { return s ? String(s).replace("T", " ").slice(0, 16) : ""; }
function secs(s) { return s ? String(s).replace("T", " ").slice(0, 19) : ""; }
function pct(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%"; }

// every fetch of the pages: a 401 (no session) goes to the login page and back here afterwards
async function api(url, opts) {
  const r = await fetch(url, opts);
  if (r.status === 401) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new Error("login required");
  }
  return r;
}

// the user's name from GET /api/me (the login layer); without it (404) the duty field is typed in
async function whoAmI() {
  const me = document.getElementById("me");
  try {
    const r = await api("/api/me");
    if (r.ok) {
      const d = await r.json();
      Y.auth = !!d.auth;
      const who = document.getElementById("who");
      if (who) who.textContent = d.name ? `${d.name}` + (d.region_prefix ? ` · 辖区 ${d.region_prefix}` : "") : "";
      if (Y.auth && me) { me.value = d.name; me.disabled = true; }
    }
  } catch (e) { if (e.message === "login required") throw e; }
  if (me && !Y.auth) {
    me.value = me.value || localStorage.getItem("yujing.me") || "";
    me.onchange = () => localStorage.setItem("yujing.me", me.value.trim());
  }
}

function actsHtml(d, w) {
  const next = NEXT[w.state] || [];
  if (!next.length) return `<div class="acts">状态:${ST[w.state] || esc(w.state)}</div>`;
  const units = d.units || [], hint = d.suggested_units || [];
  const unitSel = `<select id="act-unit">` + [...hint, ...units.filter(u => !hint.includes(u))]
    .map(u => `<option>${esc(u)}</option>`).join("") + "</select>";
  const outSel = `<select id="act-outcome">` + Object.entries(OUT).map(([k, v]) => `<option value="${k}">${v}</option>`).join("") + "</select>";
  return `<div class="acts">状态:${ST[w.state] || esc(w.state)}(v${w.version})` +
    next.map(a => a === "dispatch" ? `${unitSel}<button data-act="dispatch">分流</button>` + (hint.length ? `<span class="muted">建议:${hint.map(esc).join("、")}</span>` : "")
      : a === "close" ? `${outSel}<input id="act-note" placeholder="办结说明" size="12"><button data-act="close">办结</button>`
      : `<button data-act="${a}">${ACT[a]}</button>`).join("") + `<span id="act-msg"></span></div>`;
}

// wire the act buttons of ``w``; ``done(answer)`` runs after a successful act
function wireActs(w, done, refresh) {
  for (const b of document.querySelectorAll(".acts button")) b.onclick = () => act(w, b.dataset.act, done, refresh);
}

async function act(w, action, done, refresh) {
  const msg = document.getElementById("act-msg");
  const me = document.getElementById("me");
  const by = me ? me.value.trim() : "";
  if (!Y.auth && !by) { msg.className = "err"; msg.textContent = "请先填写值班员"; if (me) me.focus(); return; }
  const body = {by: by || "-", version: w.version};
  if (action === "dispatch") body.unit = document.getElementById("act-unit").value;
  if (action === "close") { body.outcome = document.getElementById("act-outcome").value; body.note = document.getElementById("act-note").value; }
  const r = await api(`/api/warnings/${encodeURIComponent(w.id)}/${action}`,
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const d = await r.json();
  if (!r.ok) {
    msg.className = "err"; msg.textContent = d.error || ("失败 " + r.status);
    if (r.status === 409 && refresh) setTimeout(refresh, 1500);
    return;
  }
  done(d);
}

function historyHtml(d) {
  return "<ol class='history'>" + d.versions.map(v =>
    `<li>v${v.version} ${LV[v.level]} 评分${Number(v.score).toFixed(2)} ${ST[v.state] || esc(v.state)} ${time(v.updated_at)}</li>`).join("") + "</ol>";
}

function auditHtml(d) {
  if (!d.audit || !d.audit.length) return "";
  return "<h4>处置记录</h4><ol class='audit'>" + d.audit.map(a =>
    `<li>${time(a.at)} ${esc(a.by)} ${ACT[a.action] || esc(a.action)}` + (a.unit ? ` → ${esc(a.unit)}` : "") +
    (a.outcome ? `(${OUT[a.outcome] || esc(a.outcome)})` : "") + (a.note ? ` · ${esc(a.note)}` : "") + "</li>").join("") + "</ol>";
}
