// A line chart in SVG with GB 3838 class bands behind it. Hand-written on purpose
// (app/web/routes.py says why): one chart type, no library to vendor and keep current.
import { CLASSES, TZ, el, fmtTime, fmtValue } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
const H = 260, M = { l: 52, r: 30, t: 10, b: 28 };
export const PALETTE = ["#1f3b73", "#8e2c6e", "#2d6a4f", "#7a4b00", "#3d3d3d", "#005f87"];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

// Bands [from, to, class] for "≤" items (class rises with the value) and "≥" (DO).
function bands(item, ymax) {
  const L = item.limits;
  const edges = item.side === "le"
    ? [[0, L[0], 1], [L[0], L[1], 2], [L[1], L[2], 3], [L[2], L[3], 4], [L[3], L[4], 5], [L[4], Infinity, 6]]
    : [[L[0], Infinity, 1], [L[1], L[0], 2], [L[2], L[1], 3], [L[3], L[2], 4], [L[4], L[3], 5], [0, L[4], 6]];
  return edges.filter(([a, b]) => a < b && a < ymax).map(([a, b, c]) => [a, Math.min(b, ymax), c]);
}

// Splits a series where the gap is over 3 × its median step, so a line never bridges an outage.
function segments(points) {
  if (points.length < 2) return [points];
  const steps = points.slice(1).map((p, i) => p.t - points[i].t).sort((a, b) => a - b);
  const limit = 3 * steps[Math.floor(steps.length / 2)];
  const out = [[points[0]]];
  for (let i = 1; i < points.length; i++) {
    if (points[i].t - points[i - 1].t > limit) out.push([]);
    out.at(-1).push(points[i]);
  }
  return out;
}

function tickLabel(t, span) {
  const opts = span <= 2 * 86400e3 ? { hour: "2-digit", minute: "2-digit", hour12: false }
    : span <= 120 * 86400e3 ? { month: "2-digit", day: "2-digit" } : { year: "2-digit", month: "2-digit" };
  return new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, ...opts }).format(t);
}

// item: {code, name_zh, unit, side, limits}; series: [{name, points: [{t, v, good}]}].
// width: the space the chart gets, so its text stays legible on a phone.
export function lineChart(item, series, start, end, width = 640) {
  const W = Math.max(300, Math.min(640, Math.round(width)));
  const values = series.flatMap((s) => s.points.map((p) => p.v));
  const dataMax = values.length ? Math.max(...values) : 0;
  const floor = item.side === "le" ? item.limits[3] : item.limits[0] * 1.15;
  const ymax = Math.max(dataMax * 1.1, floor);
  const x = (t) => M.l + ((t - start) / (end - start)) * (W - M.l - M.r);
  const y = (v) => H - M.b - (v / ymax) * (H - M.t - M.b);
  const count = values.length;
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${item.name_zh}趋势图，${series.length} 个站点，${count} 个数据点`,
    "data-points": count,
  });
  for (const [a, b, c] of bands(item, ymax)) {
    const info = CLASSES.find((k) => k.class === c);
    root.append(svg("rect", { x: M.l, width: W - M.l - M.r, y: y(b), height: y(a) - y(b), fill: info.colour, "fill-opacity": 0.3, class: `band c${c}` }));
    if (y(a) - y(b) > 12) root.append(svg("text", { x: W - M.r + 3, y: (y(a) + y(b)) / 2 + 4, "font-size": 11, fill: "#333" }, info.label));
  }
  const ystep = niceStep(ymax, 5);
  for (let v = 0; v <= ymax + 1e-9; v += ystep) {
    root.append(svg("line", { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v), stroke: "#000", "stroke-opacity": 0.1 }));
    root.append(svg("text", { x: M.l - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#333" }, fmtValue(Number(v.toPrecision(6)))));
  }
  const span = end - start;
  const xstep = span / 6;
  for (let i = 0; i <= 6; i++) {
    const t = start + i * xstep;
    root.append(svg("text", { x: x(t), y: H - 8, "text-anchor": "middle", "font-size": 11, fill: "#333" }, tickLabel(t, span)));
  }
  root.append(svg("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, fill: "none", stroke: "#888" }));
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const good = s.points.filter((p) => p.good);
    for (const part of segments(good)) {
      if (part.length > 1) {
        root.append(svg("polyline", { points: part.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 1.8 }));
      }
    }
    const dots = s.points.length <= 300;
    for (const p of s.points) {
      if (!dots && p.good) continue;
      root.append(svg("circle", {
        cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: p.good ? 2.5 : 3.5,
        fill: p.good ? colour : "#fff", stroke: p.good ? colour : "#b00020", class: p.good ? "pt" : "pt bad",
      }, undefined));
    }
  });
  root.append(svg("text", { x: M.l + 4, y: M.t + 12, "font-size": 11, fill: "#333" }, item.unit));
  const keys = el("div", { class: "keys" }, series.map((s, i) =>
    el("span", {}, el("i", { "data-colour": PALETTE[i % PALETTE.length] }), s.name)),
    el("span", {}, "○ 质控未通过（不计入均值与连线）"));
  // Inline style attributes are refused by the page's CSP; CSSOM assignments are not.
  keys.querySelectorAll("i").forEach((node) => { node.style.background = node.dataset.colour; });
  const rows = series.flatMap((s) => s.points.map((p) => el("tr", {},
    el("td", {}, s.name), el("td", {}, fmtTime(new Date(p.t).toISOString(), { year: true })),
    el("td", { class: "num" }, fmtValue(p.v)), el("td", {}, p.good ? "正常" : "未通过"))));
  return el("figure", { class: "chart", "data-item": item.code },
    el("figcaption", {}, el("h3", {}, `${item.name_zh}`, item.unit ? ` (${item.unit})` : "")),
    root, keys,
    el("details", {}, el("summary", {}, `数据表（${count} 点）`),
      el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, ["站点", "时间", "数值", "质控"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)))));
}
