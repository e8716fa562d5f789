// 达Ⅲ消Ⅴ考核: the plan's targets per section for a year; the KPIs need the reports API.
import { DATA, LEVELS, api, el, table } from "./common.js";

const LABELS = ["", "Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ"];
const form = document.getElementById("filters");

// The targets in force for a year: that year's, or the last year's the plan names.
function inForce(targets, year) {
  const known = targets.filter((t) => t.year <= year).sort((a, b) => b.year - a.year);
  return known[0] ?? null;
}

async function reportsApi() {
  const node = document.getElementById("reports-api");
  const spec = await api("/openapi.json");
  const paths = Object.keys(spec.paths).filter((p) => p.startsWith("/api/v1/reports"));
  node.replaceChildren(paths.length
    ? el("span", {}, "报表接口已上线：", ...paths.map((p) => [el("a", { href: p.includes("{") ? "/docs" : p }, p), " "]))
    : el("span", {}, "报表接口尚未上线，此处暂不显示考核结果（不以实时数据代替时段评价）。接口说明见 ", el("a", { href: "/docs" }, "API 文档"), "。"));
}

async function targets() {
  const year = Number(form.year.value) || DATA.year;
  const sections = await api("/api/v1/sections");
  document.getElementById("targets").replaceChildren(table(
    ["断面", "控制级别", "片区", "2020 年类别", `${year} 年约束性目标`, "力争目标"],
    sections.map((s) => {
      const t = inForce(s.targets, year);
      return el("tr", { "data-section": s.code },
        el("th", { scope: "row" }, el("a", { href: `/sections/${encodeURIComponent(s.code)}` }, `${s.code} ${s.name}`)),
        el("td", {}, LEVELS[s.control_level] ?? s.control_level), el("td", {}, s.zone?.name ?? "—"),
        el("td", {}, s.class_2020 ? `${LABELS[s.class_2020]}类` : "—"),
        el("td", {}, t ? `${LABELS[t.binding_class]}类` : "—"),
        el("td", {}, t?.stretch_class ? `${LABELS[t.stretch_class]}类` : "—"));
    }), { caption: "各断面年度目标" }));
}

form.addEventListener("change", targets);
form.addEventListener("submit", (e) => { e.preventDefault(); targets(); });
reportsApi();
targets();
