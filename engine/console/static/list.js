// The warnings list (index.html): server-side filters, sorting and paging (GET /api/warning-list),
// counts by level from the server, live rows over SSE that respect the active filters.
"use strict";
const form = document.getElementById("filters");
const FIELDS = ["region", "level", "state", "kind", "rule", "from", "to", "sort", "limit"];
const byId = new Map();        // warnings on the current page
let offset = 0, total = 0, counts = {red: 0, orange: 0, yellow: 0, blue: 0}, recountTimer = null, reloadTimer = null;

function params(extra) {
  const p = new URLSearchParams();
  for (const k of FIELDS) {
    let v = form.elements[k].value.trim();
    if (k === "state" && v === "") continue;           // 全部
    if (v) p.set(k, v);
  }
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p;
}
function fromUrl() {
  const u = new URLSearchParams(location.search);
  for (const k of FIELDS) if (u.has(k)) form.elements[k].value = u.get(k) === "all" ? "" : u.get(k);
  offset = Number(u.get("offset")) || 0;
}
function toUrl() {
  const p = params();
  if (form.elements.state.value === "") p.set("state", "all");
  if (offset) p.set("offset", offset);
  history.replaceState(null, "", p.toString() ? "/?" + p : "/");
}
function showCounts() {
  for (const k in counts) document.getElementById("n-" + k).textContent = counts[k];
  for (const el of document.querySelectorAll(".count")) el.classList.toggle("on", el.dataset.level === form.elements.level.value);
  document.getElementById("total").textContent = `符合条件 ${total} 条`;
  const limit = Number(form.elements.limit.value);
  const pages = Math.max(1, Math.ceil(total / limit));
  document.getElementById("page").textContent = `第 ${Math.floor(offset / limit) + 1} / ${pages} 页`;
  document.getElementById("prev").disabled = offset <= 0;
  document.getElementById("next").disabled = offset + limit >= total;
}
function rowHtml(w) {
  return `<td><span class="lv ${w.level}">${LV[w.level]}</span></td><td>${esc(w.title)}</td>` +
    `<td>${Number(w.score).toFixed(2)}</td><td>${esc(w.region_code)}</td>` +
    `<td>${ST[w.state] || esc(w.state)}</td><td>v${w.version}</td><td>${time(w.updated_at)}</td>`;
}
function row(w) {
  let tr = document.getElementById("w-" + w.id);
  if (!tr) {
    tr = document.createElement("tr"); tr.id = "w-" + w.id; tr.className = "row"; tr.dataset.id = w.id;
    tr.onclick = () => show(w.id);
  }
  tr.innerHTML = rowHtml(w);
  return tr;
}
function emptyRow() {
  const body = document.getElementById("rows");
  if (!body.children.length) body.innerHTML = `<tr id="empty"><td colspan="7" class="muted">${
    total || form.elements.region.value || form.elements.level.value ? "没有符合条件的预警" : "暂无预警,等待数据…"}</td></tr>`;
}
async function load() {
  const msg = document.getElementById("filter-msg");
  const r = await api("/api/warning-list?" + params({offset}));
  const d = await r.json();
  if (!r.ok) { msg.textContent = d.error || ("查询失败 " + r.status); return; }
  msg.textContent = "";
  total = d.total; counts = d.by_level;
  byId.clear();
  const body = document.getElementById("rows");
  body.innerHTML = "";
  for (const w of d.rows) { byId.set(w.id, w); body.append(row(w)); }
  emptyRow();
  showCounts();
  document.body.dataset.loaded = String(Date.now());
}
async function recount() {
  const r = await api("/api/warning-list?" + params({offset: 0, limit: 1}));
  if (!r.ok) return;
  const d = await r.json();
  total = d.total; counts = d.by_level;
  showCounts();
}
function later(fn, which) {
  if (which === "reload") { clearTimeout(reloadTimer); reloadTimer = setTimeout(fn, 1000); }
  else { clearTimeout(recountTimer); recountTimer = setTimeout(fn, 1000); }
}
// whether a pushed warning version passes the active filters (the server applies the same ones)
function matches(w, skipLevel) {
  const f = form.elements;
  if (f.region.value && !String(w.region_code).startsWith(f.region.value.trim())) return false;
  if (!skipLevel && f.level.value && w.level !== f.level.value) return false;
  if (f.state.value === "open" ? w.state === "closed" : (f.state.value && w.state !== f.state.value)) return false;
  if (f.kind.value && w.dispute_kind !== f.kind.value) return false;
  if (f.rule.value && !(w.reasons || []).some(r => r.rule_id === f.rule.value)) return false;
  const t = Date.parse(w.updated_at);
  if (f.from.value && t < Date.parse(f.from.value + (f.from.value.length === 16 ? ":00" : "") + "+08:00")) return false;
  if (f.to.value && t > Date.parse(f.to.value + (f.to.value.length === 16 ? ":59" : "") + "+08:00")) return false;
  return true;
}
function upsert(w) {
  const old = byId.get(w.id);
  if (old && old.version > w.version) return;
  const body = document.getElementById("rows");
  const live = form.elements.sort.value === "time" && offset === 0;
  if (w.version === 1 && !old && matches(w, true)) {           // a new warning: count it now
    counts[w.level]++; if (matches(w)) total++; showCounts();
  }
  if (!matches(w)) {
    if (old) { byId.delete(w.id); document.getElementById("w-" + w.id)?.remove(); emptyRow(); }
  } else if (old || live) {
    byId.set(w.id, w);
    document.getElementById("empty")?.remove();
    const tr = row(w);
    if (live) body.prepend(tr); else if (!tr.parentNode) body.append(tr);
    tr.classList.remove("fresh"); void tr.offsetWidth; tr.classList.add("fresh");
    const limit = Number(form.elements.limit.value);
    while (body.children.length > limit) { const last = body.lastElementChild; byId.delete(last.dataset.id); last.remove(); }
  } else {
    later(load, "reload");  // sorted by score/level or on a later page: the server places it
  }
  later(recount, "recount");
  if (detailId === w.id) show(w.id);
}
let detailId = null;
async function show(id) {
  detailId = id;
  const r = await api("/api/warnings/" + encodeURIComponent(id));
  const el = document.getElementById("detail");
  if (!r.ok) { el.innerHTML = '<p class="muted">预警不存在。</p>'; return; }
  const d = await r.json(); const last = d.versions[d.versions.length - 1];
  el.innerHTML = `<h3><span class="lv ${last.level}">${LV[last.level]}</span> ${esc(last.title)}</h3>` +
    `<p class="muted">预警编号 ${esc(last.id)} · 案件 ${esc(last.case_id)} · 首次 ${time(last.first_at)} · ` +
    `<a id="open-page" href="/w/${encodeURIComponent(last.id)}">打开预警页(时间线、关系图)</a></p>` +
    actsHtml(d, last) + `<pre>${esc(last.explanation)}</pre><h4>版本记录</h4>` + historyHtml(d) + auditHtml(d);
  wireActs(last, res => { upsert(res.warning); show(id); }, () => show(id));
}
async function status() {
  try {
    const s = await (await api("/api/status")).json();
    document.getElementById("status").textContent =
      `已处理 ${s.records} 条记录 · 拒收 ${s.rejects} 条 · 预警更新 ${s.warnings} 次 · 事件时间 ${time(s.event_time)}` + (s.done ? " · 回放完毕" : "");
  } catch (e) {}
}
function listen() {
  const es = new EventSource("/api/stream");
  const live = document.getElementById("live");
  es.onopen = () => { live.textContent = "实时推送"; live.className = "on"; };
  es.onerror = () => { live.textContent = "重连中…"; live.className = ""; };
  es.addEventListener("warning", e => upsert(JSON.parse(e.data)));
  es.addEventListener("resync", () => load());
  es.addEventListener("sla_breach", e => { const d = JSON.parse(e.data);
    const tr = document.getElementById("w-" + d.id); if (tr) tr.title = "超时未签收,已推送上一级督办"; });
}
async function meta() {
  const r = await api("/api/meta");
  if (!r.ok) return;
  const d = await r.json();
  const kind = form.elements.kind, rule = form.elements.rule;
  for (const k of d.dispute_kinds) kind.add(new Option(k.label, k.value));
  for (const x of d.rules) rule.add(new Option(`${x.title || x.rule_id}${x.shadow ? "(影子)" : ""}`, x.rule_id));
}
function changed() { offset = 0; toUrl(); load(); }
for (const el of form.elements) if (el.name) el.addEventListener("change", changed);
document.getElementById("reset").onclick = () => { form.reset(); changed(); };
document.getElementById("prev").onclick = () => { offset = Math.max(0, offset - Number(form.elements.limit.value)); toUrl(); load(); };
document.getElementById("next").onclick = () => { offset += Number(form.elements.limit.value); toUrl(); load(); };
for (const el of document.querySelectorAll(".count")) el.onclick = () => {
  form.elements.level.value = form.elements.level.value === el.dataset.level ? "" : el.dataset.level; changed(); };
(async () => {
  await whoAmI();
  await meta();
  fromUrl();
  await load();
  listen();
  status(); setInterval(status, 2000);
})();
