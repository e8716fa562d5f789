// 达Ⅲ消Ⅴ考核: the plan's KPIs for a year, a quarter or the year to date, drawn from
// GET /api/v1/reports/plan (the same report its XLSX and CSV downloads are).
import { DATA, api, el, refusal, setStatus } from "./common.js";
import { cell, downloads, fmtPercent, reportTable, tableOf } from "./report.js";

const PATH = "/api/v1/reports/plan";
const form = document.getElementById("filters");

function periodName() {
  const kind = form.kind.value;
  if (kind === "ytd") return "ytd";
  return kind === "quarter" ? `${form.year.value}-Q${form.quarter.value}` : form.year.value;
}

function fromName(name) {
  const quarter = /^(\d{4})-Q([1-4])$/.exec(name ?? "");
  if (name === "ytd") form.kind.value = "ytd";
  else if (quarter) { form.kind.value = "quarter"; form.year.value = quarter[1]; form.quarter.value = quarter[2]; }
  else if (/^\d{4}$/.test(name ?? "") && [...form.year.options].some((o) => o.value === name)) { form.kind.value = "year"; form.year.value = name; }
}

function showInputs() {
  form.year.parentElement.hidden = form.kind.value === "ytd";
  form.quarter.parentElement.hidden = form.kind.value !== "quarter";
}

// A figure with its label; the value cell keeps the API's number (report.js `cell`).
function figure(summary, columns, key, { big = false } = {}) {
  const column = columns.find((c) => c.key === key);
  return el("div", { class: big ? "fig big" : "fig" }, el("span", { class: "label" }, column.header), cell(column, summary[key], "span"));
}

// The share against the goal: a bar filled to the share, a mark at the goal.
function shareBar(share, goal) {
  const pct = (x) => `${Math.max(0, Math.min(100, x * 100))}%`;
  return el("div", { class: "bar", role: "img", "aria-label": `Ⅰ～Ⅲ类比例 ${fmtPercent(share)}，目标 ${fmtPercent(goal)}` },
    share !== null ? el("span", { class: "fill", style: null, "data-width": pct(share) }) : null,
    goal !== null ? el("span", { class: "goal", "data-left": pct(goal) }) : null);
}

function kpis(report) {
  const t = tableOf(report, "scoreboard");
  const s = t.rows[0];
  const c = t.columns;
  const met = s.goal_met === null ? el("span", { class: "verdict" }, "无法评价（无数据）")
    : el("span", { class: s.goal_met ? "verdict met" : "verdict missed" }, s.goal_met ? "达到年度目标" : "未达到年度目标");
  const vTotal = s.v_sections + s.worse_than_v_sections;
  const node = el("div", { class: "kpis" },
    el("article", { class: "kpi", "data-kpi": "share" },
      el("h3", {}, "省控及以上断面Ⅰ～Ⅲ类比例"),
      figure(s, c, "share_i_iii", { big: true }),
      shareBar(s.share_i_iii, s.goal),
      el("p", {}, "年度目标 ≥ ", cell(c.find((x) => x.key === "goal"), s.goal, "span"), s.goal_kind ? `，${s.goal_kind} ` : "（无） ", met),
      el("p", { class: "meta" }, figure(s, c, "i_iii"), figure(s, c, "classed"), figure(s, c, "scope_sections"))),
    el("article", { class: vTotal ? "kpi bad" : "kpi", "data-kpi": "v" },
      el("h3", {}, "Ⅴ类及劣Ⅴ类断面"),
      el("div", { class: "fig big" }, el("span", { class: "label" }, "合计"), el("span", { class: "num", "data-key": "v_total", "data-value": String(vTotal) }, String(vTotal))),
      el("p", {}, "目标：0（消除Ⅴ类及劣Ⅴ类） ", el("span", { class: vTotal ? "verdict missed" : "verdict met" }, vTotal ? "未达到" : "达到")),
      el("p", { class: "meta" }, figure(s, c, "v_sections"), figure(s, c, "worse_than_v_sections")),
      s.v_names ? el("p", { class: "meta" }, figure(s, c, "v_names")) : null),
    el("article", { class: "kpi", "data-kpi": "binding" },
      el("h3", {}, "断面约束性目标"),
      el("div", { class: "fig big" }, el("span", { class: "label" }, "达到 / 有目标"),
        el("span", { class: "num" }, cell(c.find((x) => x.key === "binding_met"), s.binding_met, "span"), " / ", cell(c.find((x) => x.key === "binding_total"), s.binding_total, "span")))),
    el("article", { class: "kpi", "data-kpi": "change" },
      el("h3", {}, `较上期（${report.period.previous}）`),
      figure(s, c, "share_change", { big: true }),
      el("p", { class: "meta" }, figure(s, c, "previous_share_i_iii")),
      el("p", { class: "meta" }, "各断面较上期、较 2020 年的类别变化见下表。")));
  return node;
}

function widths(root) {
  // The CSP allows no inline style attributes from markup: sizes are set from script.
  for (const n of root.querySelectorAll("[data-width]")) n.style.width = n.dataset.width;
  for (const n of root.querySelectorAll("[data-left]")) n.style.left = n.dataset.left;
}

async function load() {
  const period = periodName();
  const next = new URLSearchParams(location.search);
  next.set("period", period);
  history.replaceState(null, "", `?${next}`);
  const targets = ["kpis", "sections", "zones", "ranking"].map((id) => document.getElementById(id));
  for (const t of targets) t.setAttribute("aria-busy", "true");
  try {
    const report = await api(`${PATH}?${new URLSearchParams({ period })}`);
    const p = report.period;
    document.getElementById("period-note").textContent = `${report.title}：${p.first_day} 至 ${p.last_day}（北京时间），上期 ${p.previous}。`;
    const k = kpis(report);
    document.getElementById("kpis").replaceChildren(k);
    widths(k);
    document.getElementById("sections").replaceChildren(reportTable(tableOf(report, "scoreboard_sections")));
    document.getElementById("zones").replaceChildren(reportTable(tableOf(report, "zones"), { rowKey: "zone" }));
    const ranking = tableOf(report, "ranking");
    document.getElementById("ranking").replaceChildren(ranking.rows.length ? reportTable(ranking) : el("p", {}, "本时段无超过Ⅲ类标准的断面。"));
    document.getElementById("downloads").replaceChildren(downloads(PATH, period, report.tables));
    document.getElementById("notes").replaceChildren(...report.notes.map((n) => el("li", {}, n)));
    document.body.dataset.period = p.name;
    setStatus(`已更新 ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`);
  } catch (error) {
    for (const t of targets) t.replaceChildren(refusal(error, "考核结果"));
  } finally {
    for (const t of targets) t.removeAttribute("aria-busy");
  }
}

form.year.value = String(DATA.year);
fromName(new URLSearchParams(location.search).get("period") ?? "ytd");
showInputs();
form.addEventListener("change", () => { showInputs(); load(); });
load();
