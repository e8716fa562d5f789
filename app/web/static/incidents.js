// 事件: open and past incidents, filterable; filters live in the URL.
import { RULES, SEVERITIES, STATES, api, el, poll, pollSeconds, refusal, table, timeEl } from "./common.js";

const form = document.getElementById("filters");
const FIELDS = ["state", "severity", "rule", "zone", "section"];

function query() {
  const q = new URLSearchParams({ limit: "200" });
  const state = form.state.value;
  if (state === "active") { q.append("state", "open"); q.append("state", "acknowledged"); } else if (state) q.append("state", state);
  for (const name of ["severity", "rule", "zone", "section"]) if (form[name].value) q.set(name, form[name].value);
  return q;
}

function where(i) {
  const section = i.section ? `${i.section.code} ${i.section.name}` : "";
  return [section, i.station ? `站点 ${i.station}` : ""].filter(Boolean).join(" · ") || "—";
}

async function load() {
  const node = document.getElementById("list");
  try {
    const list = await api(`/api/v1/incidents?${query()}`);
    node.replaceChildren(list.length
      ? table(["编号", "断面 / 站点", "规则", "级别", "状态", "开始", "确认", "解决"], list.map((i) => el("tr", { "data-incident": i.id, "data-state": i.state },
        el("td", {}, el("a", { href: `/incidents/${i.id}` }, `#${i.id}`)), el("td", {}, where(i)),
        el("td", {}, RULES[i.rule] ?? i.rule),
        el("td", {}, el("span", { class: i.severity >= 3 ? "badge bad" : i.severity === 2 ? "badge warn" : "badge" }, SEVERITIES[i.severity] ?? i.severity)),
        el("td", {}, STATES[i.state] ?? i.state), el("td", {}, timeEl(i.opened_at)),
        el("td", {}, i.acknowledged_at ? [timeEl(i.acknowledged_at), " ", i.acknowledged_by ?? ""] : "—"),
        el("td", {}, i.resolved_at ? timeEl(i.resolved_at) : "—"))), { caption: "事件列表" })
      : el("p", {}, "没有符合条件的事件。"));
  } catch (error) {
    node.replaceChildren(refusal(error, "事件"));
  }
}

const params = new URLSearchParams(location.search);
for (const name of FIELDS) if (params.has(name)) form[name].value = params.get(name);
form.addEventListener("change", () => {
  const next = new URLSearchParams();
  for (const name of FIELDS) if (form[name].value !== (name === "state" ? "active" : "")) next.set(name, form[name].value);
  history.replaceState(null, "", next.size ? `?${next}` : location.pathname);
  load();
});
poll(load, pollSeconds(30));
load();
