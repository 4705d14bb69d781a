// The convops wallboard. It reads the metrics stream of one account
// (GET …/msgconversation/stream, Server-Sent Events) with fetch, so that the
// key travels in the Authorization header as on every other call, and draws
// the answer: totals, a chart of the intervals, and the skill and agent
// tables. The key and account are kept in this browser's localStorage.
"use strict";

const STORE = "convops.wallboard";
const MAX_ROWS = 200; // rows a table draws; the rest are counted, not drawn
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

// settings: {account, token, timeframe, interval, target (seconds)}
function loadSettings() {
  let s = {};
  try { s = JSON.parse(localStorage.getItem(STORE) || "{}"); } catch { s = {}; }
  // A link may carry the account and token in its fragment (the demo prints
  // one): it is read once, kept, and taken out of the address bar.
  if (location.hash.length > 1) {
    const h = new URLSearchParams(location.hash.slice(1));
    if (h.get("account")) s.account = h.get("account");
    if (h.get("token")) s.token = h.get("token");
    history.replaceState(null, "", location.pathname + location.search);
  }
  s.timeframe = Number(s.timeframe) || 1440;
  s.interval = Number(s.interval) || 60;
  s.target = Number(s.target) || 600;
  saveSettings(s);
  return s;
}

function saveSettings(s) {
  localStorage.setItem(STORE, JSON.stringify(s));
}

const settings = loadSettings();

// ---- formatting -------------------------------------------------------

const countFormat = new Intl.NumberFormat("en-US");
function formatCount(n) { return countFormat.format(n); }

// formatDuration writes milliseconds as "1h 02m", "7m 06s" or "42s".
function formatDuration(ms) {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (h > 0) return `${h}h ${two(m)}m`;
  if (m > 0) return `${m}m ${two(s)}s`;
  return `${s}s`;
}

// formatPercentile writes a percentile's milliseconds, "–" for -1 (no
// conversation).
function formatPercentile(ms) { return ms < 0 ? "–" : formatDuration(ms); }

// formatLevel writes a service level (0 to 1, -1 for none) in percent.
function formatLevel(level) { return level < 0 ? "–" : `${(100 * level).toFixed(1)}%`; }

// formatTarget writes a target in seconds as the picker does.
function formatTarget(secs) { return secs < 3600 ? `${secs / 60} min` : `${secs / 3600} h`; }

// The keys of the tail the wallboard asks for: the 90th percentile and the
// service level of the target.
const P90 = "handlingTime_resolvedConversations_90thPercentile";
const levelKey = () => `serviceLevel_${settings.target}s`;

// formatClock writes a time in UTC, as the API's buckets are.
function formatClock(ms, withDate, withSeconds) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, "0");
  let t = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
  if (withSeconds) t += `:${two(d.getUTCSeconds())}`;
  return withDate ? `${d.toISOString().slice(0, 10)} ${t}` : t;
}

// ---- controls ---------------------------------------------------------

const INTERVALS = [5, 10, 15, 30, 60, 120, 240];

// intervalChoices are the intervals that divide the timeframe and give at
// most 96 bars.
function intervalChoices(timeframe) {
  return INTERVALS.filter((i) => i <= timeframe && timeframe % i === 0 && timeframe / i <= 96);
}

function fillIntervals() {
  const sel = $("interval");
  const choices = intervalChoices(settings.timeframe);
  if (!choices.includes(settings.interval)) {
    settings.interval = choices.find((i) => settings.timeframe / i <= 24) || choices[choices.length - 1];
  }
  sel.replaceChildren(...choices.map((i) => {
    const o = document.createElement("option");
    o.value = String(i);
    o.textContent = i < 60 ? `${i} min` : `${i / 60} h`;
    return o;
  }));
  sel.value = String(settings.interval);
}

$("timeframe").addEventListener("change", (e) => {
  settings.timeframe = Number(e.target.value);
  fillIntervals();
  saveSettings(settings);
  connect();
});
$("interval").addEventListener("change", (e) => {
  settings.interval = Number(e.target.value);
  saveSettings(settings);
  connect();
});
$("target").addEventListener("change", (e) => {
  settings.target = Number(e.target.value);
  saveSettings(settings);
  connect();
});
$("change-key").addEventListener("click", () => showSetup(""));
$("setup").addEventListener("submit", (e) => {
  e.preventDefault();
  settings.account = $("setup-account").value.trim();
  settings.token = $("setup-token").value.trim();
  saveSettings(settings);
  connect();
});

function showSetup(message) {
  stop();
  $("board").hidden = true;
  $("setup").hidden = false;
  $("setup-account").value = settings.account || "";
  $("setup-token").value = "";
  $("setup-error").textContent = message;
  setStatus("idle", "not connected");
}

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

// ---- the streams ------------------------------------------------------
//
// Two streams: the totals and intervals for the tiles and the chart, and
// every skill and agent over the whole timeframe for the tables. (One
// stream with both would carry every skill and agent of every interval.)

const WATCHDOG_MS = 30000; // the server sends a line every 10 s at least

class MetricsStream {
  constructor(params, onAnswer) {
    this.params = params;
    this.onAnswer = onAnswer;
    this.failures = 0;
    this.live = false;
    this.controller = null;
    this.retryTimer = null;
    this.lastByte = 0;
  }

  url() {
    const p = new URLSearchParams({ v: "1", timeframe: String(settings.timeframe), percentiles: "90", thresholds: String(settings.target), ...this.params });
    return `/operations/api/account/${encodeURIComponent(settings.account)}/msgconversation/stream?${p}`;
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    clearTimeout(this.retryTimer);
    this.live = false;
  }

  // stale says whether the stream has been silent for longer than the
  // server ever is: the connection is dead without having said so.
  stale() {
    return this.controller !== null && this.lastByte > 0 && Date.now() - this.lastByte > WATCHDOG_MS;
  }

  async start() {
    this.stop();
    const mine = new AbortController();
    this.controller = mine;
    this.lastByte = Date.now();
    try {
      const resp = await fetch(this.url(), {
        headers: { Authorization: `Bearer ${settings.token}`, Accept: "text/event-stream" },
        signal: mine.signal, cache: "no-store",
      });
      if (!resp.ok) {
        let message = `the server answered ${resp.status}`;
        try { message = (await resp.json()).message || message; } catch { /* not JSON */ }
        if (resp.status === 400 || resp.status === 401 || resp.status === 403) {
          showSetup(message); // the key or the account is wrong: ask again
          return;
        }
        throw new Error(message);
      }
      await readEvents(resp.body, mine, () => { this.lastByte = Date.now(); }, (name, data) => {
        if (name !== "metrics") return;
        this.failures = 0;
        this.live = true;
        this.onAnswer(JSON.parse(data));
        updateStatus();
      });
      if (!mine.signal.aborted) throw new Error("the stream ended");
    } catch (err) {
      if (mine.signal.aborted) return;
      this.live = false;
      this.failures++;
      const wait = Math.min(30000, 1000 * 2 ** Math.min(this.failures, 5));
      setStatus("error", `${err.message}; reconnecting in ${Math.round(wait / 1000)} s…`);
      this.retryTimer = setTimeout(() => this.start(), wait);
    }
  }
}

const streams = [
  new MetricsStream({ interval: "", }, (a) => renderTotals(a)),
  new MetricsStream({ skillIds: "all", agentIds: "all" }, (a) => renderTables(a)),
];

function stop() {
  for (const s of streams) s.stop();
}

function updateStatus() {
  if (streams.every((s) => s.live)) setStatus("live", "live");
}

function connect() {
  stop();
  if (!settings.account || !settings.token) {
    showSetup("");
    return;
  }
  $("setup").hidden = true;
  $("board").hidden = false;
  $("account-label").textContent = `account ${settings.account}`;
  $("timeframe").value = String(settings.timeframe);
  $("target").value = String(settings.target);
  $("target-label").textContent = `(within ${formatTarget(settings.target)})`;
  fillIntervals();
  streams[0].params.interval = String(settings.interval);
  setStatus("connecting", "connecting…");
  for (const s of streams) s.start();
}

// The watchdog reconnects a stream that has gone silent.
setInterval(() => {
  for (const s of streams) {
    if (s.stale()) {
      setStatus("connecting", "reconnecting…");
      s.start();
    }
  }
}, 5000);

// readEvents parses a text/event-stream body: onBytes on every chunk,
// onEvent(name, data) for each event, until the body ends or the controller
// aborts.
async function readEvents(body, ctl, onBytes, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let from = 0; // where to look for the end of the next event
  while (!ctl.signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    onBytes();
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buf.indexOf("\n\n", from)) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      from = 0;
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
    from = Math.max(0, buf.length - 1); // "\n\n" may straddle two chunks
  }
}

// ---- drawing ----------------------------------------------------------

const ZERO = {
  resolvedConversations_byCCP: 0, resolvedConversations_byConsumer: 0, resolvedConversations_bySystem: 0,
  totalResolvedConversations: 0, avgTime_resolvedConversations: 0,
};

function setValue(id, raw, text) {
  const el = $(id);
  if (el.dataset.value !== String(raw)) {
    el.dataset.value = String(raw);
    el.textContent = text;
    el.classList.remove("changed");
    void el.offsetWidth; // restart the flash
    el.classList.add("changed");
  }
}

let lastIntervals = null; // what the chart shows, to draw again on resize

// renderTotals draws the account's totals and the chart of the intervals.
function renderTotals(answer) {
  const t = answer.metricsTotals || ZERO;
  setValue("total-ccp", t.resolvedConversations_byCCP, formatCount(t.resolvedConversations_byCCP));
  setValue("total-consumer", t.resolvedConversations_byConsumer, formatCount(t.resolvedConversations_byConsumer));
  setValue("total-system", t.resolvedConversations_bySystem, formatCount(t.resolvedConversations_bySystem));
  setValue("total-resolved", t.totalResolvedConversations, formatCount(t.totalResolvedConversations));
  setValue("avg-handling", t.avgTime_resolvedConversations, formatDuration(t.avgTime_resolvedConversations));
  const p90 = t[P90] ?? -1, level = t[levelKey()] ?? -1;
  setValue("p90-handling", p90, formatPercentile(p90));
  setValue("service-level", level, formatLevel(level));

  const intervals = (answer.metricsByIntervals || []).slice().reverse().map((iv) => ({
    end: iv.timestamp,
    m: iv.metricsData.metricsTotals || ZERO,
  }));
  lastIntervals = intervals;
  drawChart(intervals);
  const end = intervals.length ? intervals[intervals.length - 1].end : 0;
  $("updated").textContent = `${formatClock(Date.now(), false, true)}`;
  $("window-end").textContent = end ? formatClock(end, true) : "–";
}

// renderTables fills the skill and agent tables. Ids stay strings: they
// are int64, past what a JavaScript number holds exactly.
function renderTables(answer) {
  const skills = answer.skillsMetricsPerAgent || { metricsPerSkill: {} };
  const agents = answer.agentsMetrics || { metricsPerAgent: {} };
  skillTable.update(Object.entries(skills.metricsPerSkill).map(([id, s]) => ({ id, m: s.metricsTotals })));
  agentTable.update(Object.entries(agents.metricsPerAgent).map(([id, m]) => ({ id, m })));
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

// drawChart draws the intervals, oldest first: stacked bars of resolutions
// by agent, consumer and system on the left axis, the average handling time
// as a line on the right axis, and the service level as a dashed line from
// the bottom (0%) to the top (100%) of the chart.
function drawChart(intervals) {
  const box = $("chart");
  const W = Math.max(300, box.clientWidth), H = Math.max(160, box.clientHeight);
  const m = { left: 48, right: 64, top: 10, bottom: 24 };
  const w = W - m.left - m.right, h = H - m.top - m.bottom;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  const maxCount = niceMax(Math.max(0, ...intervals.map((i) => i.m.totalResolvedConversations)));
  const maxAHT = niceMax(Math.max(0, ...intervals.map((i) => i.m.avgTime_resolvedConversations)));
  const y = (v) => m.top + h - (v / maxCount) * h;
  const yA = (v) => m.top + h - (v / maxAHT) * h;

  const axis = el("g", { class: "axis" });
  for (let k = 0; k <= 4; k++) {
    const v = (maxCount * k) / 4;
    axis.append(el("line", { class: "grid", x1: m.left, x2: m.left + w, y1: y(v), y2: y(v) }));
    axis.append(el("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatCount(Math.round(v))));
    axis.append(el("text", { x: m.left + w + 6, y: yA((maxAHT * k) / 4) + 4 }, formatDuration((maxAHT * k) / 4)));
  }
  svg.append(axis);
  if (!intervals.length) {
    svg.append(el("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data"));
    box.replaceChildren(svg);
    return;
  }
  const slot = w / intervals.length;
  const barW = Math.max(1, slot * 0.72);
  const labelEvery = Math.ceil(intervals.length / Math.max(1, Math.floor(w / 56)));
  const points = [], levels = [];
  const yL = (v) => m.top + h - v * h;
  intervals.forEach((iv, i) => {
    const x = m.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const g = el("g");
    for (const [key, cls] of [["resolvedConversations_byCCP", "ccp"], ["resolvedConversations_byConsumer", "consumer"], ["resolvedConversations_bySystem", "system"]]) {
      const v = iv.m[key];
      if (v > 0) g.append(el("rect", { class: cls, x, width: barW, y: y(base + v), height: y(base) - y(base + v) }));
      base += v;
    }
    g.append(el("title", {}, `until ${formatClock(iv.end)}: ${formatCount(iv.m.totalResolvedConversations)} resolved ` +
      `(agent ${formatCount(iv.m.resolvedConversations_byCCP)}, consumer ${formatCount(iv.m.resolvedConversations_byConsumer)}, ` +
      `system ${formatCount(iv.m.resolvedConversations_bySystem)}), avg handling ${formatDuration(iv.m.avgTime_resolvedConversations)}, ` +
      `90% within ${formatPercentile(iv.m[P90] ?? -1)}, service level ${formatLevel(iv.m[levelKey()] ?? -1)}`));
    svg.append(g);
    if (iv.m.totalResolvedConversations > 0) points.push([x + barW / 2, yA(iv.m.avgTime_resolvedConversations)]);
    if ((iv.m[levelKey()] ?? -1) >= 0) levels.push([x + barW / 2, yL(iv.m[levelKey()])]);
    if (i % labelEvery === 0) {
      axis.append(el("text", { x: m.left + i * slot + slot / 2, y: H - 6, "text-anchor": "middle" }, formatClock(iv.end)));
    }
  });
  if (points.length) {
    svg.append(el("polyline", { class: "aht", points: points.map((p) => p.join(",")).join(" ") }));
    for (const [px, py] of points) svg.append(el("circle", { class: "aht-dot", cx: px, cy: py, r: 2.5 }));
  }
  if (levels.length) {
    svg.append(el("polyline", { class: "sl", points: levels.map((p) => p.join(",")).join(" ") }));
  }
  box.replaceChildren(svg);
}

// A sortable table of rows {id, m}: click a heading to sort by it, again to
// reverse. The sort is kept across updates.
class Table {
  constructor(id, label, countId, idText) {
    this.table = $(id);
    this.countEl = $(countId);
    this.idText = idText;
    this.columns = [
      { title: label, get: (r) => BigInt(r.id), text: (r) => this.idText(r.id) },
      { title: "Resolved", get: (r) => r.m.totalResolvedConversations, text: (r) => formatCount(r.m.totalResolvedConversations) },
      { title: "By agent", get: (r) => r.m.resolvedConversations_byCCP, text: (r) => formatCount(r.m.resolvedConversations_byCCP) },
      { title: "By consumer", get: (r) => r.m.resolvedConversations_byConsumer, text: (r) => formatCount(r.m.resolvedConversations_byConsumer) },
      { title: "By system", get: (r) => r.m.resolvedConversations_bySystem, text: (r) => formatCount(r.m.resolvedConversations_bySystem) },
      { title: "Avg handling", get: (r) => r.m.avgTime_resolvedConversations, text: (r) => formatDuration(r.m.avgTime_resolvedConversations) },
      { title: "90% within", get: (r) => r.m[P90] ?? -1, text: (r) => formatPercentile(r.m[P90] ?? -1) },
      { title: "Service level", get: (r) => r.m[levelKey()] ?? -1, text: (r) => formatLevel(r.m[levelKey()] ?? -1) },
    ];
    this.sortBy = 1;
    this.descending = true;
    this.rows = [];
    const head = document.createElement("thead");
    const tr = document.createElement("tr");
    this.columns.forEach((c, i) => {
      const th = document.createElement("th");
      th.textContent = c.title;
      th.scope = "col";
      th.tabIndex = 0;
      const sort = () => {
        this.descending = this.sortBy === i ? !this.descending : i !== 0;
        this.sortBy = i;
        this.draw();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
      tr.append(th);
    });
    head.append(tr);
    this.body = document.createElement("tbody");
    this.table.replaceChildren(head, this.body);
  }

  update(rows) {
    this.rows = rows;
    this.draw();
  }

  draw() {
    const col = this.columns[this.sortBy];
    const dir = this.descending ? -1 : 1;
    const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0); // numbers and BigInts alike
    const rows = this.rows.slice().sort((a, b) => cmp(col.get(a), col.get(b)) * dir || cmp(BigInt(a.id), BigInt(b.id)));
    this.table.querySelectorAll("th").forEach((th, i) => {
      if (i === this.sortBy) th.setAttribute("aria-sort", this.descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    this.body.replaceChildren(...rows.slice(0, MAX_ROWS).map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      for (const c of this.columns) {
        const td = document.createElement("td");
        td.textContent = c.text(r);
        tr.append(td);
      }
      return tr;
    }));
    this.countEl.textContent = rows.length > MAX_ROWS ? `(top ${MAX_ROWS} of ${formatCount(rows.length)})` : `(${formatCount(rows.length)})`;
  }
}

const skillTable = new Table("skills", "Skill", "skills-count", (id) => (id === "-1" ? "unassigned" : id));
const agentTable = new Table("agents", "Agent", "agents-count", (id) => id);

// The chart is drawn to the size of its box: drawn again when that changes.
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (lastIntervals) drawChart(lastIntervals); }, 150);
});

connect();
