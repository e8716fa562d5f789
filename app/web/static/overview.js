// 总览: every section's current class, target and items; refreshed by polling the API.
import {
  AuthError, DATA, LEVELS, QC, USER, api, classBadge, el, fmtAge, fmtTime, fmtValue, poll,
  pollSeconds, timeEl,
} from "./common.js";

const NAMES = { ph: "pH", do: "溶解氧", codmn: "高锰酸盐指数", cod: "化学需氧量", bod5: "五日生化需氧量", nh3n: "氨氮", tp: "总磷", tn: "总氮" };
const STALE_S = 4 * 3600; // older than the platform's 4-hour records: say so
const form = document.getElementById("filters");
let status = DATA.status;
let incidents = null; // section code → open count; null: not allowed to see them

function ageOf(section) {
  if (!section.last_reading) return null;
  return (new Date(status.as_of) - new Date(section.last_reading)) / 1000;
}

function target(section) {
  if (!section.target_class) return el("span", {}, "无年度目标");
  const verdict = section.met === null ? el("span", {}, "无数据")
    : section.met ? el("span", { class: "met" }, "达标")
    : el("span", { class: "missed" }, `未达标（差 ${section.classes_missed} 个类别）`);
  return el("span", {}, `目标 ${section.target_label}类 · `, verdict);
}

function itemsTable(section) {
  const newest = section.last_reading ? new Date(section.last_reading) : null;
  const rows = Object.values(section.items).map((item) => {
    // An item older than the section's newest reading says when it is from.
    const behind = newest && newest - new Date(item.time) > 3600 * 1000;
    return el("tr", { "data-item": item.parameter },
      el("th", { scope: "row" }, item.name_zh),
      el("td", { class: "num" }, fmtValue(item.value), item.unit ? el("small", {}, ` ${item.unit}`) : null),
      el("td", {}, classBadge(item.water_class, item.label)),
      el("td", { class: `qc${item.qc_flag}` }, QC[item.qc_flag] ?? item.qc_flag,
        item.backfill ? "（补传）" : "",
        behind ? el("small", { class: "stale" }, " ", timeEl(item.time)) : null));
  });
  if (!rows.length) return el("p", { class: "meta" }, `最近 ${status.within_hours / 24} 天无数据`);
  return el("table", { class: "items" },
    el("thead", {}, el("tr", {}, ["项目", "最新值", "类别", "质控"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

function card(section) {
  const age = ageOf(section);
  const open = incidents?.get(section.code) ?? 0;
  const pollutants = section.main_pollutants.map((c) => NAMES[c] ?? c).join("、");
  return el("article", { class: "card", "data-section": section.code, "data-class": section.water_class, "aria-labelledby": `h-${section.code}` },
    el("header", {},
      classBadge(section.water_class, section.label),
      el("div", {},
        el("h3", { id: `h-${section.code}` }, el("a", { href: `/sections/${encodeURIComponent(section.code)}` }, section.name), " ", el("small", {}, section.code)),
        el("div", { class: "meta" }, [section.zone ?? "不属片区", LEVELS[section.control_level] ?? section.control_level, section.waterbody === "lake" ? "湖库" : "河流"].join(" · ")))),
    el("div", {}, target(section)),
    pollutants ? el("div", {}, "主要污染指标：", pollutants) : null,
    itemsTable(section),
    el("div", { class: "meta" },
      "数据时间：", section.last_reading ? [timeEl(section.last_reading), " ",
        el("span", { class: age > STALE_S ? "stale" : "" }, `（${fmtAge(age)}）`)] : "无数据", " · ",
      incidents === null ? el("span", {}, "事件：登录后可见")
        : el("a", { href: `/incidents?section=${encodeURIComponent(section.code)}` },
          open ? el("span", { class: "badge bad" }, `未解决事件 ${open}`) : el("span", { class: "badge" }, "无未解决事件"))));
}

function filtered() {
  const zone = form.zone.value;
  const level = form.level.value;
  return status.sections.filter((s) => (!zone || (zone === "-" ? !s.zone : s.zone === zone))
    && (!level || s.control_level === level));
}

function summary(sections) {
  const withData = sections.filter((s) => s.water_class > 0);
  const met = withData.filter((s) => s.met === true).length;
  const missed = withData.filter((s) => s.met === false).length;
  const bad = withData.filter((s) => s.water_class >= 5).length;
  const good = withData.filter((s) => s.water_class <= 3).length;
  document.getElementById("summary").textContent =
    `共 ${sections.length} 个断面，有数据 ${withData.length} 个：Ⅰ～Ⅲ类 ${good} 个，Ⅴ类及劣Ⅴ类 ${bad} 个；`
    + `达标 ${met} 个，未达标 ${missed} 个。截至 ${fmtTime(status.as_of)}。`;
}

function render() {
  const sections = filtered();
  summary(sections);
  const target = document.getElementById("sections");
  if (!form.group.checked) {
    target.replaceChildren(...sections.map(card));
    return;
  }
  const groups = new Map();
  for (const s of sections) {
    const key = s.zone ?? "不属片区";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  target.replaceChildren(...[...groups].flatMap(([zone, members]) => [el("h2", { class: "group" }, zone), ...members.map(card)]));
}

function legend() {
  const node = document.getElementById("legend");
  node.replaceChildren(...JSON.parse(document.getElementById("classes").textContent).map((c) =>
    el("li", {}, classBadge(c.class, c.label), c.quality)));
}

async function loadIncidents() {
  if (!USER.can_read_incidents) return; // an anonymous reader: not asked, not shown
  try {
    const list = await api("/api/v1/incidents?state=open&state=acknowledged&limit=500");
    const counts = new Map();
    for (const i of list) if (i.section) counts.set(i.section.code, (counts.get(i.section.code) ?? 0) + 1);
    incidents = counts;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    incidents = null;
  }
}

async function refresh() {
  const [fresh] = await Promise.all([api("/api/v1/status/sections"), loadIncidents()]);
  status = fresh;
  render();
}

// Filters live in the URL so a view can be bookmarked or sent.
const params = new URLSearchParams(location.search);
for (const name of ["zone", "level"]) if (params.get(name)) form[name].value = params.get(name);
form.group.checked = params.get("group") === "1";
form.addEventListener("change", () => {
  const next = new URLSearchParams(location.search);
  for (const name of ["zone", "level"]) form[name].value ? next.set(name, form[name].value) : next.delete(name);
  form.group.checked ? next.set("group", "1") : next.delete("group");
  history.replaceState(null, "", `?${next}`);
  render();
});
legend();
render();
// For bench/web.py: when the first state is on screen, by the page's own clock.
performance.mark("overview-rendered");
poll(refresh, pollSeconds(30));
loadIncidents().then(render).catch(() => {});
