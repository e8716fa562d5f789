// 断面: the section's state, trends of NH3-N, TP, DO and CODMn per station, its incidents.
import {
  DATA, RULES, SEVERITIES, STATES, USER, api, classBadge, el, fmtAge, fmtValue, poll,
  pollSeconds, refusal, signInLink, table, timeEl,
} from "./common.js";
import { lineChart } from "./chart.js";
import { cell, isoDay, shanghaiToday } from "./report.js";

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
  if (!USER.can_read_stations) {
    target.replaceChildren(el("p", {}, "站点数据需登录后可见：", signInLink()));
    return;
  }
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
    node.replaceChildren(refusal(error, "事件"));
  }
}

// The period evaluation: this section's row of GET /api/v1/reports/sections, the
// report's own computation, so its numbers are the reports'.
const periodForm = document.getElementById("period-form");
const SUMMARY_KEYS = ["class", "quality", "binding", "met_binding", "stretch", "met_stretch", "max_multiple_iii",
  "main_pollutants_iii", "main_pollutants_target", "stations", "samples", "expected", "capture"];
// The trend's rolling windows, as periods of whole Beijing days ending today.
const ROLLING = { day: 0, week: 6, month: 29, year: 364 };

function periodName() {
  const preset = periodForm.preset.value;
  const [y, m, d] = shanghaiToday();
  const q = Math.floor((m - 1) / 3) + 1;
  const pad = (n) => String(n).padStart(2, "0");
  if (preset in ROLLING) return `${isoDay(y, m, d - ROLLING[preset])}..${isoDay(y, m, d)}`;
  switch (preset) {
    case "this-month": return `${y}-${pad(m)}`;
    case "this-quarter": return `${y}-Q${q}`;
    case "ytd": return "ytd";
    case "last-month": return m === 1 ? `${y - 1}-12` : `${y}-${pad(m - 1)}`;
    case "last-quarter": return q === 1 ? `${y - 1}-Q4` : `${y}-Q${q - 1}`;
    case "last-year": return String(y - 1);
    default: {
      const { start, end } = periodForm;
      return start.value && end.value ? `${start.value}..${end.value}` : null;
    }
  }
}

function periodBlock(report) {
  const t = report.tables.find((x) => x.name === "sections");
  const row = t.rows.find((r) => r.code === DATA.code);
  const p = report.period;
  if (!row) return el("p", {}, "报表中无本断面。");
  const columns = new Map(t.columns.map((c) => [c.key, c]));
  const items = t.columns.filter((c) => columns.has(`${c.key}_class`) && row[c.key] !== null)
    .map((c) => el("tr", { "data-item": c.key }, el("th", { scope: "row" }, c.header),
      cell(c, row[c.key]), cell(columns.get(`${c.key}_class`), row[`${c.key}_class`])));
  return el("div", { "data-period": p.name },
    el("p", { class: "note" }, `${p.name.includes("..") ? "" : `${p.name}：`}${p.first_day} 至 ${p.last_day}（北京时间）`),
    el("dl", { class: "dl" }, SUMMARY_KEYS.flatMap((k) => [el("dt", {}, columns.get(k).header), cell(columns.get(k), row[k], "dd")])),
    el("h3", {}, "各项目时段均值"),
    items.length
      ? el("div", { class: "scroll" }, el("table", { class: "period-items" },
        el("thead", {}, el("tr", {}, ["项目", "均值", "类别"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, items)))
      : el("p", {}, "本时段无质控合格数据。"),
    el("p", { class: "note" }, "只列出本时段有质控合格数据的项目。"));
}

let periodAsked = 0;
async function loadPeriod() {
  const node = document.getElementById("period");
  const name = periodName();
  if (!name) { node.textContent = "请选择起止日期。"; return; }
  const asked = ++periodAsked;
  node.setAttribute("aria-busy", "true");
  try {
    const report = await api(`/api/v1/reports/sections?${new URLSearchParams({ period: name, section: DATA.code })}`);
    if (asked !== periodAsked) return; // a later choice is on its way
    node.replaceChildren(periodBlock(report));
    if (periodForm.preset.value !== "custom") {
      periodForm.start.value = report.period.first_day;
      periodForm.end.value = report.period.last_day;
    }
  } catch (error) {
    if (asked === periodAsked) node.replaceChildren(refusal(error, "时段评价"));
  } finally {
    node.removeAttribute("aria-busy");
  }
}

periodForm.addEventListener("change", (event) => {
  if (event.target.type === "date") periodForm.preset.value = "custom";
  loadPeriod();
});

async function refresh() {
  await loadState();
  await loadCharts();
}

form.addEventListener("change", (event) => {
  if (event.target.name === "range") {
    periodForm.preset.value = event.target.value;
    loadPeriod();
  }
  loadCharts().catch((e) => { document.getElementById("charts").textContent = `加载失败：${e.message}`; });
});
const tick = poll(refresh, pollSeconds(60));
tick();
loadIncidents();
loadPeriod();
