// The analysts' page (/analyst): packs in use, per-rule hits and precision (7/30 days), shadow
// rules beside live ones, saved backtest reports.
"use strict";
let stats = null, days = "7";
const HEAD = "<thead><tr><th>规则</th><th>规则包</th><th class='n'>信号</th><th class='n'>命中案件</th><th class='n'>已研判</th><th class='n'>证实</th><th class='n'>精确率</th></tr></thead>";
function ruleRows(rows) {
  if (!rows.length) return HEAD + "<tbody><tr><td colspan='7' class='muted'>无</td></tr></tbody>";
  return HEAD + "<tbody>" + rows.map(r => `<tr data-rule="${esc(r.rule_id)}"><td>${esc(r.title || r.rule_id)}<div class="muted">${esc(r.rule_id)}` +
    (r.version ? ` v${r.version}` : "") + (r.in_use ? "" : " <span class='tag'>已不在用</span>") + `</div></td><td>${esc(r.pack)}</td>` +
    `<td class="n signals">${r.signals}</td><td class="n cases">${r.cases}</td><td class="n judged">${r.judged}</td>` +
    `<td class="n confirmed">${r.confirmed}</td><td class="n precision">${pct(r.precision)}</td></tr>`).join("") + "</tbody>";
}
function showStats() {
  const w = stats.windows[days];
  document.getElementById("live").innerHTML = ruleRows(w.live);
  document.getElementById("shadow").innerHTML = ruleRows(w.shadow);
  document.getElementById("definition").textContent = stats.definition + (stats.until ? `(截至 ${secs(stats.until)})` : "(暂无信号)");
  for (const b of document.querySelectorAll("#window button")) b.classList.toggle("on", b.dataset.days === days);
}
async function loadPacks() {
  const prof = await (await api("/api/analyst/profile")).json();
  document.getElementById("profile").textContent = prof.active ? `当前研判模式:${prof.active}` : "";
  const packs = await (await api("/api/analyst/packs")).json();
  document.getElementById("packs").innerHTML = packs.map(p =>
    `<div class="pack" data-pack="${esc(p.pack)}"><b>${esc(p.pack)}</b> 版本 <span class="version">${p.version ?? "—"}</span>` +
    `<div class="muted">${p.rules.length} 条规则,其中影子 ${p.rules.filter(r => r.shadow).length} 条</div></div>`).join("") || "<span class='muted'>无</span>";
}
async function loadStats() {
  stats = await (await api("/api/analyst/rules")).json();
  showStats();
}
async function loadBacktests() {
  const list = await (await api("/api/analyst/backtests")).json();
  const t = document.getElementById("backtests");
  if (!list.length) { t.innerHTML = "<tr><td class='muted'>暂无保存的回测报告</td></tr>"; return; }
  t.innerHTML = "<thead><tr><th>报告</th><th>保存时间</th><th>等级</th><th class='n'>记录</th><th class='n'>预警案件</th><th class='n'>精确率</th><th class='n'>召回率</th><th class='n'>规则</th></tr></thead><tbody>" +
    list.map(b => b.error ? `<tr><td>${esc(b.name)}</td><td colspan="7" class="muted">${esc(b.error)}</td></tr>` :
      `<tr><td><a href="#" data-name="${esc(b.name)}">${esc(b.name)}</a></td><td>${secs(b.saved_at)}</td>` +
      `<td>${LV[b.level] || esc(b.level)}</td><td class="n">${b.input.records ?? ""}</td><td class="n">${b.overall.warned_cases ?? ""}</td>` +
      `<td class="n">${pct(b.overall.precision)}</td><td class="n">${pct(b.overall.recall)}</td><td class="n">${b.rules}</td></tr>`).join("") + "</tbody>";
  for (const a of t.querySelectorAll("a[data-name]")) a.onclick = e => { e.preventDefault(); showReport(a.dataset.name); };
}
async function showReport(name) {
  const r = await api("/api/analyst/backtests/" + encodeURIComponent(name));
  const el = document.getElementById("report");
  if (!r.ok) { el.textContent = "报告不存在"; return; }
  const rep = await r.json();
  el.innerHTML = `<h3>${esc(name)} 各规则</h3><table><thead><tr><th>规则</th><th>规则包</th><th>影子</th><th class='n'>命中</th><th class='n'>命中案件</th><th class='n'>预警案件</th><th class='n'>精确率</th><th class='n'>召回率</th></tr></thead><tbody>` +
    Object.entries(rep.rules || {}).map(([id, o]) => `<tr><td>${esc(id)}</td><td>${esc(o.pack)}</td><td>${o.shadow ? "是" : ""}</td><td class="n">${o.hits}</td>` +
      `<td class="n">${o.cases_hit}</td><td class="n">${o.warned_cases}</td><td class="n">${pct(o.precision)}</td><td class="n">${pct(o.recall)}</td></tr>`).join("") + "</tbody></table>";
}
for (const b of document.querySelectorAll("#window button")) b.onclick = () => { days = b.dataset.days; showStats(); };
(async () => {
  await whoAmI();
  await Promise.all([loadPacks(), loadStats(), loadBacktests()]);
  document.body.dataset.ready = "1";
})();
