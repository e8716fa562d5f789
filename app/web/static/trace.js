// The incident's upstream trace (alerts/trace.py): candidates in rank order, with the
// readings that show each move. Candidates, not a verdict: the page says so.
import { classBadge, el, fmtValue, table, timeEl } from "./common.js";

const MOVEMENTS = {
  crossed: "越过目标线", rose: "明显上升", above_throughout: "始终超标", no_rise: "未上升", no_data: "无数据",
};

function minutes(seconds) {
  return seconds === null ? "—" : `${Math.round(seconds / 60)} 分钟`;
}

function readingsCell(readings) {
  return readings.map((r) => el("div", {}, timeEl(r.time), " ", fmtValue(r.value), " ", classBadge(r.class)));
}

export function traceView(trace) {
  if (!trace) return [el("p", {}, "无溯源结果。")];
  const parts = [el("p", {}, trace.summary)];
  for (const item of trace.items) {
    const rows = item.upstream.map((u) => el("tr", {},
      el("td", {}, u.rank ?? "—"), el("td", {}, String(u.order)), el("td", {}, `${u.station} ${u.name}`),
      el("td", {}, MOVEMENTS[u.movement] ?? u.movement), el("td", { class: "num" }, minutes(u.lag_s)),
      el("td", { class: "num" }, u.travel_time_min === null ? "—" : `${u.travel_time_min} 分钟`),
      el("td", {}, readingsCell(u.readings))));
    parts.push(el("p", {}, `${item.item}：断面站 ${item.section.station} 上升于 `, timeEl(item.section.rose_at)));
    parts.push(table(["排序", "沿程", "站点", "变化", "提前", "常规传播", "数据"], rows));
  }
  return parts;
}
