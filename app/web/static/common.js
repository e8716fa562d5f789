// Shared by the pages: API calls, safe DOM building, the labels the plan and GB 3838 use.
// Every string from the API goes in as text (textContent), never as HTML.

export const TZ = "Asia/Shanghai";
export const CLASSES = JSON.parse(document.getElementById("classes").textContent);
export const DATA = JSON.parse(document.getElementById("data").textContent);
export const LEVELS = { national: "国控", provincial: "省控", municipal: "市控" };
export const QC = { 1: "正常", 2: "未评估", 3: "可疑", 4: "无效", 9: "缺失" };
export const STATES = { open: "未确认", acknowledged: "已确认", resolved: "已解决" };
export const SEVERITIES = { 1: "提示", 2: "重要", 3: "严重" };
export const RULES = { class_v: "Ⅴ类及劣Ⅴ类", target_miss: "未达目标", station_silent: "站点无数据" };
export const DATA_FLAGS = { N: "正常", F: "停运", M: "维护", S: "手工输入", D: "故障", C: "校准", T: "超测定上限", B: "通讯异常" };

// The page's user (app/web/auth.py): signed in (session), development without sign-in
// (open) or anonymous reading what is public (public).
export const USER = DATA.user;

// The API answered 401 (sign-in needed) or 403 (this role may not, or the form expired).
export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  // A write made with the session cookie carries the session's CSRF token.
  const csrf = document.querySelector('meta[name="csrf-token"]');
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf.content;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => null);
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, response.status === 401 ? "需要登录" : "无权限：" + (json?.error?.message ?? ""));
  }
  if (!response.ok) {
    const message = json?.error?.message ?? json?.detail ?? response.statusText;
    throw new Error(typeof message === "string" ? message : JSON.stringify(message));
  }
  return json;
}

// Where a sign-in brings the reader back to this page.
export function signInLink(text = "登录") {
  return el("a", { href: `/auth/login?next=${encodeURIComponent(location.pathname + location.search)}` }, text);
}

// What a part of a page says when the API refuses it: a sign-in link, or why not.
export function refusal(error, what) {
  if (error instanceof AuthError && error.status === 401) return el("span", {}, `${what}需登录后可见：`, signInLink());
  if (error instanceof AuthError) return el("span", {}, `${what}：${error.message}`);
  return el("span", {}, `加载失败：${error.message}`);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function classBadge(waterClass, label) {
  const c = waterClass || 0;
  const info = CLASSES.find((x) => x.class === c);
  const text = c ? label ?? info?.label : "无";
  return el("span", { class: `cls c${c}`, title: c ? `${text}类 ${info?.quality ?? ""}` : "无数据或未分类" }, c ? text : "—");
}

const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});
const dateTimeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});

export function fmtTime(iso, { year = false } = {}) {
  if (!iso) return "—";
  return (year ? dateTimeFormat : timeFormat).format(new Date(iso));
}

export function timeEl(iso, opts) {
  return iso ? el("time", { datetime: iso }, fmtTime(iso, opts)) : "—";
}

export function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return "刚刚";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} 分钟前`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} 小时前`;
  return `${Math.floor(seconds / 86400)} 天前`;
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("zh-CN", { maximumFractionDigits: 3 });
}

export function setStatus(text) {
  const node = document.getElementById("status");
  if (node) node.textContent = text;
}

// Seconds between refreshes: the page's default, or ?poll=N (at least 1) for tests.
export function pollSeconds(fallback) {
  const asked = Number(new URLSearchParams(location.search).get("poll"));
  return Number.isFinite(asked) && asked >= 1 ? asked : fallback;
}

// Runs `load` now and every `seconds` while the tab is visible; failures are shown, not fatal.
export function poll(load, seconds) {
  let running = false;
  const tick = async () => {
    if (running || document.hidden) return;
    running = true;
    try {
      await load();
      setStatus(`已更新 ${fmtTime(new Date().toISOString())}`);
    } catch (error) {
      setStatus(error instanceof AuthError ? error.message : `更新失败：${error.message}`);
    } finally {
      running = false;
    }
  };
  setInterval(tick, seconds * 1000);
  document.addEventListener("visibilitychange", tick);
  return tick;
}

export function table(headers, rows, { caption } = {}) {
  return el("div", { class: "scroll" },
    el("table", {},
      caption ? el("caption", { class: "vh" }, caption) : null,
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
}
