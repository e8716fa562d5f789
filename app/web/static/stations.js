// 站点: last reading, silent or not, QC flag shares of the last day.
import { api, el, fmtAge, poll, pollSeconds, table, timeEl } from "./common.js";

const form = document.getElementById("filters");

function share(n, total) {
  return total ? `${((100 * n) / total).toFixed(1)}%` : "—";
}

function row(s) {
  const q = s.qc_24h;
  const total = s.readings_24h;
  const status = !s.active ? el("span", { class: "badge" }, "停用")
    : s.silent ? el("span", { class: "badge bad" }, "无数据") : el("span", { class: "badge" }, "正常");
  return el("tr", { "data-station": s.code, "data-silent": s.silent },
    el("th", { scope: "row" }, s.code, s.simulated ? el("small", {}, "（模拟）") : null),
    el("td", {}, s.name), el("td", {}, s.section ? el("a", { href: `/sections/${encodeURIComponent(s.section)}` }, s.section) : "—"),
    el("td", {}, status), el("td", {}, timeEl(s.last_reading)), el("td", {}, fmtAge(s.age_s)),
    el("td", { class: "num" }, s.reporting_interval_s < 60 ? `${s.reporting_interval_s} 秒` : `${Math.round(s.reporting_interval_s / 60)} 分钟`),
    el("td", { class: "num" }, total),
    el("td", { class: "num qc1" }, share(q.good, total)),
    el("td", { class: "num qc3" }, share(q.suspect, total)),
    el("td", { class: "num qc4" }, share(q.fail, total)),
    el("td", { class: "num qc2" }, share(q.not_evaluated + q.missing, total)));
}

async function load() {
  const q = new URLSearchParams();
  if (form.section.value) q.set("section", form.section.value);
  const body = await api(`/api/v1/status/stations?${q}`);
  const shown = body.stations.filter((s) => !form.silent.checked || s.silent);
  const silent = body.stations.filter((s) => s.silent).length;
  document.getElementById("list").replaceChildren(
    el("p", {}, `共 ${body.stations.length} 个站点，无数据 ${silent} 个。`),
    shown.length ? table(["站点", "名称", "断面", "状态", "最新数据", "距今", "上报间隔", "24 小时数据项", "正常", "可疑", "无效", "未评估/缺失"], shown.map(row), { caption: "站点列表" })
      : el("p", {}, "没有符合条件的站点。"));
}

const params = new URLSearchParams(location.search);
if (params.has("section")) form.section.value = params.get("section");
form.silent.checked = params.get("silent") === "1";
form.addEventListener("change", () => {
  const next = new URLSearchParams();
  if (form.section.value) next.set("section", form.section.value);
  if (form.silent.checked) next.set("silent", "1");
  history.replaceState(null, "", next.size ? `?${next}` : location.pathname);
  load();
});
poll(load, pollSeconds(60))();
