// 断面: the section's state, trends of NH3-N, TP, DO and CODMn per station, its incidents.
import {
  AuthError, DATA, RULES, SEVERITIES, STATES, api, classBadge, el, fmtAge, fmtValue, poll,
  pollSeconds, table, timeEl,
} from "./common.js";
import { lineChart } from "./chart.js";

const RANGES = { day: 86400, week: 7 * 86400, month: 30 * 86400, year: 365 * 86400 };
// Raw readings for a day, hourly means for a week or a month, daily means for a year.
const AUTO = { day: "raw", week: "hour", month: "hour", year: "day" };
const MAX_PAGES = 10;
const form = document.getElementById("range");
let stations = [];

async function loadSeries(station, item, start, end, bucket) {
  const points = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const q = new URLSearchParams({ parameter: item, start: start.toISOString(), end: end.toISOString(), bucket, limit: "10000" });
    if (cursor) q.set("cursor", cursor);
    const body = await api(`/api/v1/stations/${encodeURIComponent(station)}/readings?${q}`);
    for (const p of body.points) {
      points.push(bucket === "raw"
        ? { t: Date.parse(p.time), v: p.value, good: p.qc_flag === 1 }
        : { t: Date.parse(p.time), v: p.mean, good: true });
    }
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return points;
}

function stateBlock(s) {
  const verdict = s.met === null ? "无数据" : s.met ? "达标" : `未达标（差 ${s.classes_missed} 个类别）`;
  const stationRows = s.stations.map((st) => el("tr", { "data-station": st.code },
    el("th", { scope: "row" }, st.code), el("td", {}, st.name), el("td", {}, st.active ? "在用" : "停用"),
    el("td", {}, timeEl(st.last_reading)),
    el("td", {}, Object.values(st.items).filter((i) => ["nh3n", "tp", "do", "codmn"].includes(i.parameter))
      .map((i) => el("span", { class: `qc${i.qc_flag}` }, `${i.name_zh} ${fmtValue(i.value)} `, classBadge(i.water_class, i.label), " ")))));
  const age = s.last_reading ? (new Date(s.as_of) - new Date(s.last_reading)) / 1000 : null;
  return el("div", {},
    el("dl", { class: "dl" },
      el("dt", {}, "当前类别"), el("dd", { "data-class": s.water_class }, classBadge(s.water_class, s.label)),
      el("dt", {}, "年度目标"), el("dd", {}, s.target_label ? `${s.target_label}类 · ${verdict}` : "无"),
      el("dt", {}, "主要污染指标"), el("dd", {}, s.main_pollutants.length ? s.main_pollutants.map((c) => s.items[c]?.name_zh ?? c).join("、") : "无"),
      el("dt", {}, "数据时间"), el("dd", {}, timeEl(s.last_reading), `（${fmtAge(age)}）`)),
    el("h3", {}, "站点"),
    stationRows.length ? table(["站点", "名称", "状态", "最新数据", "最新值（质控正常为绿色）"], stationRows) : el("p", {}, "本断面尚无站点。"));
}

async function loadState() {
  const s = await api(`/api/v1/status/sections/${encodeURIComponent(DATA.code)}`);
  stations = s.stations.filter((st) => st.active);
  document.getElementById("state-body").replaceChildren(stateBlock(s));
}

async function loadCharts() {
  const range = form.range.value;
  const bucket = form.bucket.value === "auto" ? AUTO[range] : form.bucket.value;
  const end = new Date();
  const start = new Date(end - RANGES[range] * 1000);
  const target = document.getElementById("charts");
  if (!stations.length) {
    target.replaceChildren(el("p", {}, "无在用站点，暂无趋势。"));
    return;
  }
  const charts = await Promise.all(DATA.items.map(async (item) => {
    const series = await Promise.all(stations.map(async (st) => ({ name: st.code, points: await loadSeries(st.code, item.code, start, end, bucket) })));
    // One column of charts on a phone, two or more on a desktop (app.css).
    const columns = target.clientWidth < 860 ? 1 : 2;
    return lineChart(item, series, start.getTime(), end.getTime(), target.clientWidth / columns - 20);
  }));
  target.replaceChildren(...charts);
}

async function loadIncidents() {
  const node = document.getElementById("incidents");
  try {
    const list = await api(`/api/v1/incidents?section=${encodeURIComponent(DATA.code)}&limit=50`);
    node.replaceChildren(list.length ? table(["编号", "规则", "级别", "状态", "开始"], list.map((i) => el("tr", {},
      el("td", {}, el("a", { href: `/incidents/${i.id}` }, `#${i.id}`)), el("td", {}, RULES[i.rule] ?? i.rule),
      el("td", {}, SEVERITIES[i.severity] ?? i.severity), el("td", {}, STATES[i.state] ?? i.state), el("td", {}, timeEl(i.opened_at))))) : el("p", {}, "无事件。"));
  } catch (error) {
    node.textContent = error instanceof AuthError ? "事件需登录或管理令牌后可见。" : `加载失败：${error.message}`;
  }
}

async function refresh() {
  await loadState();
  await loadCharts();
}

form.addEventListener("change", () => loadCharts().catch((e) => { document.getElementById("charts").textContent = `加载失败：${e.message}`; }));
const tick = poll(refresh, pollSeconds(60));
tick();
loadIncidents();
