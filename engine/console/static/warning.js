// A warning's page (/w/{id}): explanation, SLA clock, acts, timeline, relationship graph, history.
"use strict";
const WID = decodeURIComponent(location.pathname.split("/").pop());
let chart = null, current = null, slaDue = null, slaStatus = null;
const COLORS = {"案件": "#d32f2f", "人员": "#1e6fd9", "电话": "#7e57c2", "地址": "#2e7d32", "摄像头": "#f57c00", "单位": "#795548"};

function timelineHtml(items) {
  return items.map(it => {
    const sigs = (it.signals || []).map(s =>
      `<span class="sig${s.shadow ? " shadow" : ""}" title="${esc(s.detector)}">${esc(s.rule_id)}${s.shadow ? "(影子)" : ""} ${Number(s.score).toFixed(2)} ${esc(s.reason)}</span>`).join("");
    if (it.type === "signal") return `<li class="signal-only"><span class="when">${secs(it.at)}</span>信号 ${sigs}</li>`;
    const who = (it.parties || []).map(p => esc(p.name || p.phone || "")).filter(Boolean).join("、");
    return `<li class="record" data-id="${esc(it.record_id)}"><span class="when">${secs(it.at)}</span>` +
      `<b>${esc(it.kind_label)}</b> ${esc(it.source)} ${esc(it.address)}` + (who ? ` · 当事人 ${who}` : "") +
      `<div>${esc(it.text)}</div>${sigs}</li>`;
  }).join("");
}
function drawGraph(g) {
  const el = document.getElementById("graph");
  if (!chart) chart = echarts.init(el);
  const cats = g.categories.map(c => ({name: c, itemStyle: {color: COLORS[c] || "#607d8b"}}));
  chart.setOption({
    tooltip: {formatter: p => p.dataType === "edge" ? esc(p.data.label) : `${esc(p.data.category)}:${esc(p.data.name)}`},
    legend: [{data: g.categories, top: 0}],
    animation: false,
    series: [{type: "graph", layout: "force", roam: true, draggable: true, top: 30,
      force: {repulsion: 900, edgeLength: [120, 200], gravity: 0.08, layoutAnimation: false},
      categories: cats,
      data: g.nodes.map(n => ({id: n.id, name: n.name, category: g.categories.indexOf(n.category),
                               symbolSize: n.category === "案件" ? 34 : 22 + Math.min(10, n.value), value: n.value})),
      links: g.links.map(l => ({source: l.source, target: l.target, label: l.label, value: l.value})),
      label: {show: true, position: "right", formatter: "{b}"},
      edgeLabel: {show: true, formatter: p => p.data.label, fontSize: 10},
      lineStyle: {color: "source", curveness: 0.1}}]
  }, true);
  el.dataset.nodes = g.nodes.length; el.dataset.links = g.links.length;
  document.getElementById("paths").innerHTML = g.paths.length ? "图谱证据:" + g.paths.map(p =>
    `${esc(p.rule_id)}:` + p.path.map(s => s.edge ? `—${esc(s.edge)}→` : esc(s.node)).join("")).join(";") : "";
}
function tickSla() {
  const el = document.getElementById("sla");
  if (slaStatus !== "running" || slaDue === null) return;
  const left = Math.round((slaDue - Date.now()) / 1000);
  el.className = left < 60 ? "due" : "ok";
  el.textContent = left > 0 ? `剩余 ${Math.floor(left / 60)} 分 ${left % 60} 秒后推送上一级督办` : "已到时限,等待督办推送";
}
function showSla(s) {
  const el = document.getElementById("sla");
  slaStatus = s.status; slaDue = s.left_s !== null && s.left_s !== undefined ? Date.now() + s.left_s * 1000 : null;
  el.dataset.status = s.status;
  const limit = s.limit_s ? `(时限 ${Math.round(s.limit_s / 60)} 分钟)` : "";
  if (s.status === "running") tickSla();
  else if (s.status === "breached") { el.className = "due"; el.textContent = `已超时,已推送督办 ${time(s.due_at)}${limit}`; }
  else if (s.status === "stopped") { el.className = "ok"; el.textContent = `已签收 ${time(s.signed_at)}` + (s.breached ? "(曾超时督办)" : "") + limit; }
  else { el.className = ""; el.textContent = s.limit_s ? `本级时限 ${Math.round(s.limit_s / 60)} 分钟(计时不在本进程)` : "本等级未设签收时限"; }
}
function mergesHtml(m) {
  // 合并记录: which case merged into this one, when, and the linker's reason (no personal data)
  if (!m || !(m.lines || []).length) return "";
  let h = "";
  if (m.merged_into) {
    const to = m.merged_into.warning_id ? ` <a id="to-survivor" href="/w/${encodeURIComponent(m.merged_into.warning_id)}">查看合并后案件的预警</a>` : "";
    h += `<p class="merged-into">本案已并入案件 ${esc(m.merged_into.case_id)},后续记录与处置在该案件下进行。${to}</p>`;
  }
  return h + `<b>合并记录</b><ul class="merges">` + m.lines.map(x => `<li>${esc(x.text)}</li>`).join("") + "</ul>";
}
async function load() {
  const r = await api(`/api/warnings/${encodeURIComponent(WID)}?full=1`);
  if (!r.ok) { document.getElementById("missing").style.display = ""; document.getElementById("page").style.display = "none"; return; }
  const d = await r.json(); const w = d.versions[d.versions.length - 1]; current = w;
  document.getElementById("page").style.display = "";
  document.title = `${LV[w.level]}预警 ${w.title} · 综治中心风险预警台`;
  document.getElementById("title").innerHTML = `<span class="lv ${w.level}">${LV[w.level]}</span> ${esc(w.title)}`;
  document.getElementById("ids").textContent = `预警编号 ${w.id} · 案件 ${w.case_id} · 区划 ${w.region_code} · 综合评分 ${Number(w.score).toFixed(2)} · 首次 ${time(w.first_at)} · 更新 ${time(w.updated_at)}`;
  document.getElementById("merges").innerHTML = mergesHtml(d.merges);
  document.getElementById("acts").innerHTML = actsHtml(d, w);
  wireActs(w, () => load(), () => load());
  document.getElementById("explanation").textContent = w.explanation;
  document.querySelector("#reasons tbody").innerHTML = (w.reasons || []).filter(x => x.rule_id !== "feedback").map(x =>
    `<tr><td>${esc(x.rule_id)}<div class="muted">${esc(x.detector)}</div></td><td>${Number(x.score).toFixed(2)}</td><td>${x.fired ?? ""}</td><td>${esc(x.reason)}</td></tr>`).join("");
  document.getElementById("timeline").innerHTML = timelineHtml(d.timeline);
  document.getElementById("tl-count").textContent = `(${d.records} 条记录)`;
  document.querySelector("#history tbody").innerHTML = d.versions.map(v =>
    `<tr><td>v${v.version}</td><td><span class="lv ${v.level}">${LV[v.level]}</span></td><td>${Number(v.score).toFixed(2)}</td>` +
    `<td>${ST[v.state] || esc(v.state)}</td><td>${secs(v.updated_at)}</td><td>${(v.reasons || []).map(x => esc(x.rule_id)).join("、")}</td></tr>`).join("");
  document.getElementById("audit").innerHTML = auditHtml(d);
  showSla(d.sla);
  drawGraph(d.graph);
  document.body.dataset.ready = "1";
}
function listen() {
  const es = new EventSource("/api/stream");
  es.addEventListener("warning", e => { const w = JSON.parse(e.data);
    if (w.id === WID && (!current || w.version > current.version)) load(); });
  es.addEventListener("sla_breach", e => { if (JSON.parse(e.data).id === WID) setTimeout(load, 500); });
}
(async () => { await whoAmI(); await load(); listen(); setInterval(tickSla, 1000); })();
window.addEventListener("resize", () => chart && chart.resize());
