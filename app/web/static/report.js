// The reports API's tables drawn as they are: its columns (Chinese headers, kinds) and
// rows, never numbers of the page's own. Each cell keeps the API's value in data-value
// (JSON), so what is shown can be checked against what the API said.
import { CLASSES, TZ, classBadge, el, fmtValue } from "./common.js";

const CLASS_OF = new Map(CLASSES.map((c) => [c.label, c.class]));

export function classOf(label) {
  return CLASS_OF.get(label) ?? 0;
}

export function fmtPercent(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  // A share that rounds to nothing is not nothing.
  if (value > 0 && value * 100 < 10 ** -digits) return `<${10 ** -digits}%`;
  return `${(value * 100).toFixed(digits)}%`;
}

// A change in classes: + better, − worse (app/reports/scoreboard.py `_change`).
function fmtChange(value) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "持平";
  return value > 0 ? `好转 ${value} 类` : `变差 ${-value} 类`;
}

export function cellContent(column, value) {
  if (value === null || value === undefined || value === "") {
    return column.kind === "class" ? classBadge(0) : "—";
  }
  switch (column.kind) {
    case "percent": return fmtPercent(value);
    case "class": return classBadge(classOf(value), value);
    case "bool": return el("span", { class: value ? "met" : "missed" }, value ? "是" : "否");
    case "integer": return column.key.startsWith("change_") ? fmtChange(value) : String(value);
    case "number": return fmtValue(value);
    default: return String(value);
  }
}

export function cell(column, value, tag = "td") {
  const numeric = ["percent", "integer", "number"].includes(column.kind);
  return el(tag, {
    class: numeric ? "num" : null,
    "data-key": column.key,
    "data-value": JSON.stringify(value ?? null),
  }, cellContent(column, value));
}

// One of the report's tables, with its rows keyed by `rowKey` (data-row).
export function reportTable(t, { rowKey = "code", only } = {}) {
  const columns = only ? t.columns.filter((c) => only.includes(c.key)) : t.columns;
  return el("div", { class: "scroll" },
    el("table", { "data-table": t.name },
      el("caption", { class: "vh" }, t.title),
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c.header)))),
      el("tbody", {}, t.rows.map((row) => el("tr", { "data-row": row[rowKey] ?? "" },
        columns.map((c) => cell(c, row[c.key])))))));
}

export function tableOf(report, name) {
  return report.tables.find((t) => t.name === name);
}

// Download links for a report: its XLSX (a sheet per table), the CSVs zipped, each CSV.
export function downloads(path, period, tables) {
  const q = (extra) => `${path}?${new URLSearchParams({ period, ...extra })}`;
  return el("p", { class: "downloads" },
    el("a", { class: "button", href: q({ format: "xlsx" }), download: "" }, "下载 Excel（XLSX）"),
    el("a", { class: "button", href: q({ format: "zip" }), download: "" }, "下载全部 CSV（ZIP）"),
    ...tables.map((t) => el("a", { class: "button light", href: q({ format: "csv", table: t.name }), download: "" }, `${t.title} CSV`)));
}

// Today in Beijing time as [year, month (1–12), day].
export function shanghaiToday() {
  const text = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  return text.split("-").map(Number);
}

export function isoDay(year, month, day) {
  return new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10);
}
