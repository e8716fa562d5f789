// One incident: what, where, its timeline (events, messages), the readings, and acting on it.
import {
  AuthError, DATA, QC, RULES, SEVERITIES, STATES, USER, api, classBadge, el, fmtValue, refusal,
  table, timeEl,
} from "./common.js";
import { traceView } from "./trace.js";

// The kinds alerts/incidents.py and alerts/notifier.py record.
const EVENTS = {
  opened: "事件开始", worsened: "情况加重", offending_again: "再次超标", clear: "指标恢复",
  notified: "已通知", escalated: "升级通知", muted: "维护期静默", acknowledged: "已确认",
  resolved: "已解决", unconfirmed: "疑似超标（待确认）", confirmed: "已确认超标",
  remeasure_requested: "已请求即时采样", remeasure_answer: "采样应答", awaiting_next_reading: "等待下次数据",
};
// alerts/early_warning.py: raised on a QC-suspect reading until a good one settles it.
const CONFIRMATIONS = { unconfirmed: "未确认（数据存疑）", confirmed: "已由正常数据确认", not_confirmed: "未被证实，已撤销" };

function remeasure(r) {
  if (r.via === "hj212") {
    return r.commands.map((c) => `即时采样 ${c.qn}：${c.state}`).join("；") || "可请求即时采样（HJ 212 在线）";
  }
  return r.next_reading_due ? ["等待下次数据，预计 ", timeEl(r.next_reading_due, { year: true })] : "等待下次数据";
}
const MESSAGE_STATUS = { pending: "待发送", delivered: "已送达", dead: "发送失败" };
const CHANNELS = { sms: "短信", webhook: "Webhook" };

function describe(details) {
  return Object.entries(details ?? {}).filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`).join("；");
}

function summary(i) {
  return el("dl", { class: "dl", "data-state": i.state },
    el("dt", {}, "规则"), el("dd", {}, RULES[i.rule] ?? i.rule),
    el("dt", {}, "级别"), el("dd", {}, SEVERITIES[i.severity] ?? i.severity),
    el("dt", {}, "状态"), el("dd", { id: "state" }, STATES[i.state] ?? i.state),
    el("dt", {}, "断面"), el("dd", {}, i.section ? el("a", { href: `/sections/${encodeURIComponent(i.section.code)}` }, `${i.section.code} ${i.section.name}`) : "—"),
    el("dt", {}, "片区"), el("dd", {}, i.zone ?? "—"),
    i.station ? [el("dt", {}, "站点"), el("dd", {}, i.station)] : null,
    el("dt", {}, "开始"), el("dd", {}, timeEl(i.opened_at, { year: true })),
    el("dt", {}, "确认"), el("dd", {}, i.acknowledged_at ? [timeEl(i.acknowledged_at, { year: true }), " ", i.acknowledged_by ?? ""] : "—"),
    el("dt", {}, "解决"), el("dd", {}, i.resolved_at ? [timeEl(i.resolved_at, { year: true }), " ", i.resolve_note ?? ""] : "—"),
    i.confirmation ? [el("dt", {}, "核实"), el("dd", { id: "confirmation" }, CONFIRMATIONS[i.confirmation] ?? i.confirmation)] : null,
    i.confirmation === "unconfirmed" ? [el("dt", {}, "复测"), el("dd", { id: "remeasure" }, remeasure(i.remeasure))] : null,
    el("dt", {}, "详情"), el("dd", {}, describe(i.details) || "—"));
}

function timeline(i) {
  const entries = [
    ...i.events.map((e) => ({ at: e.at, node: el("span", {}, EVENTS[e.kind] ?? e.kind, " ", el("small", {}, describe(e.details))) })),
    ...i.notifications.map((n) => ({ at: n.created_at, node: el("span", {}, `${CHANNELS[n.channel] ?? n.channel} → ${n.contact ?? n.recipient}（${MESSAGE_STATUS[n.status] ?? n.status}）`, el("br"), el("small", {}, n.text)) })),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return entries.map((e) => el("li", {}, timeEl(e.at, { year: true }), e.node));
}

function readings(i) {
  const rows = i.readings.readings.map((r) => el("tr", {},
    el("td", {}, r.station), el("td", {}, r.parameter), el("td", {}, timeEl(r.time)),
    el("td", { class: "num" }, fmtValue(r.value)), el("td", {}, classBadge(r.water_class)),
    el("td", { class: `qc${r.qc_flag}` }, QC[r.qc_flag] ?? r.qc_flag)));
  if (!rows.length) return el("p", {}, "期间无数据。");
  return [
    i.readings.truncated ? el("p", { class: "note" }, "数据较多，只列出一部分。") : null,
    table(["站点", "项目", "时间", "数值", "类别", "质控"], rows),
  ];
}

async function load() {
  const i = await api(`/api/v1/incidents/${DATA.id}?readings_limit=500`);
  document.getElementById("summary").replaceChildren(summary(i));
  document.getElementById("timeline").replaceChildren(...timeline(i));
  document.getElementById("readings").replaceChildren(...[readings(i)].flat().filter(Boolean));
  document.getElementById("trace").replaceChildren(...traceView(i.trace));
  // Offered to a role that may act (app/access/policy.py); the API checks it again.
  const act = document.getElementById("act");
  act.hidden = !USER.can_act || i.state === "resolved";
  document.getElementById("ack").hidden = i.state !== "open";
}

function wire(id, action, body) {
  const form = document.getElementById(id);
  const message = document.getElementById("act-msg");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api(`/api/v1/incidents/${DATA.id}/${action}`, { method: "POST", body: body(form) });
      message.textContent = action === "acknowledge" ? "已确认。" : "已标记为已解决。";
      form.reset();
      await load();
    } catch (error) {
      message.replaceChildren(error instanceof AuthError ? refusal(error, "处置") : `操作失败：${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
}

// No body: the API records the caller (the signed-in user) as the one who acknowledged.
wire("ack", "acknowledge", () => undefined);
wire("resolve", "resolve", (f) => ({ note: f.note.value, by: USER.name, force: f.force.checked }));
load().catch((error) => {
  document.getElementById("summary").replaceChildren(refusal(error, "事件"));
});
