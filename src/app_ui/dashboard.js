// The dashboard view: the user's default dashboard (created when they have
// none), rendered from /data, then kept current from /stream.

import { get, post, ApiError } from "./api.js";
import { follow } from "./sse.js";
import { formatValue, formatChange, formatDate, num } from "./format.js";

/** What a user without a dashboard gets. */
export const DEFAULT_DASHBOARD = {
  name: "Sales overview",
  description: "New leads, speed to lead, conversion and revenue over the last 30 days.",
  widgets: [
    { id: "w1", kind: "kpi", metric: "new_leads", params: { days: 30 } },
    { id: "w2", kind: "kpi", metric: "speed_to_lead", params: { days: 30 } },
    { id: "w3", kind: "kpi", metric: "lead_conversion_rate", params: { days: 30 } },
    { id: "w4", kind: "kpi", metric: "revenue", params: { days: 30 } },
    { id: "w5", kind: "timeseries", metric: "new_leads", params: { days: 30 } },
    { id: "w6", kind: "bar", metric: "leads_by_status", params: { days: 30 } },
    { id: "w7", kind: "table", metric: "recent_leads", params: { limit: 10 } },
  ],
  layout: [
    { widget: "w1", x: 0, y: 0, w: 3, h: 2 },
    { widget: "w2", x: 3, y: 0, w: 3, h: 2 },
    { widget: "w3", x: 6, y: 0, w: 3, h: 2 },
    { widget: "w4", x: 9, y: 0, w: 3, h: 2 },
    { widget: "w5", x: 0, y: 2, w: 8, h: 4 },
    { widget: "w6", x: 8, y: 2, w: 4, h: 4 },
    { widget: "w7", x: 0, y: 6, w: 12, h: 4 },
  ],
  is_default: true,
  is_public: false,
  refresh_interval_seconds: 60,
  theme: "light",
};

/** KPIs for which less is better: their fall is shown as good news. */
const LOWER_IS_BETTER = new Set([
  "speed_to_lead",
  "ar_outstanding",
  "days_sales_outstanding",
  "overdue_invoices",
  "low_stock_items",
]);

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** The dashboard to show: the first default one, else the first one;
 * creates the default dashboard when there is none. */
async function chooseDashboard() {
  const list = await get("/v1/dashboards");
  const items = (list && list.items) || [];
  const chosen = items.find((d) => d.is_default) || items[0];
  if (chosen) return chosen;
  const created = await post("/v1/dashboards", DEFAULT_DASHBOARD);
  // Read our own write: the read side answers once it has the dashboard
  // (503 when that took over 5 s: ask again).
  const path = `/v1/dashboards/${encodeURIComponent(created.id)}?min_version=${created.version}`;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await get(path);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 503) || attempt >= 3) throw e;
    }
  }
}

export class DashboardView {
  constructor() {
    this.dashboard = null;
    this.stream = null;
    this.charts = new Map(); // widget id → {plot, observer}
    this.order = new Map(); // widget id → position in the layout
    this.loading = null;
  }

  /** Loads (once) and follows the dashboard. */
  show() {
    if (!this.loading) {
      this.loading = this.load().catch((e) => this.fail(e));
    }
    return this.loading;
  }

  /** Stops following and forgets everything (sign-out). */
  reset() {
    if (this.stream) this.stream.stop();
    this.stream = null;
    for (const { plot, observer } of this.charts.values()) {
      observer.disconnect();
      plot.destroy();
    }
    this.charts.clear();
    this.order.clear();
    this.dashboard = null;
    this.loading = null;
    $("kpis").replaceChildren();
    $("widgets").replaceChildren();
    $("dashboard-error").hidden = true;
    $("dashboard-description").hidden = true;
    $("dashboard-title").textContent = "Dashboard";
    $("live-status").textContent = "Loading…";
  }

  fail(error) {
    if (error instanceof ApiError && error.status === 401) return; // signed out
    const box = $("dashboard-error");
    box.textContent = `The dashboard could not be loaded: ${error.message}`;
    box.hidden = false;
    $("live-status").textContent = "Not loaded";
  }

  async load() {
    const dashboard = await chooseDashboard();
    this.dashboard = dashboard;
    document.documentElement.dataset.theme = dashboard.theme === "dark" ? "dark" : "light";
    $("dashboard-title").textContent = dashboard.name || "Dashboard";
    const description = $("dashboard-description");
    description.textContent = dashboard.description || "";
    description.hidden = !dashboard.description;
    const layout = [...(dashboard.layout || [])].sort((a, b) => a.y - b.y || a.x - b.x);
    layout.forEach((cell, i) => this.order.set(cell.widget, { index: i, w: cell.w }));

    const path = `/v1/dashboards/${encodeURIComponent(dashboard.id)}`;
    const data = await get(`${path}/data`);
    const kpis = $("kpis");
    kpis.setAttribute("aria-busy", "true");
    this.renderAll(data);
    kpis.setAttribute("aria-busy", "false");

    this.stream = follow(`${path}/stream`, {
      onEvent: (frame) => this.frame(frame),
      onState: (state, detail) => this.streamState(state, detail),
    });
  }

  streamState(state, detail) {
    const status = $("live-status");
    if (state === "open") status.textContent = "Connected; waiting for the first update…";
    else if (state === "connecting") status.textContent = "Connecting for live updates…";
    else if (state === "waiting") status.textContent = `Live updates interrupted; retrying in ${Math.ceil(detail)} s`;
    else if (state === "stopped") {
      if (detail instanceof ApiError && detail.status === 401) return;
      status.textContent = `Live updates unavailable (${detail ? detail.message : "stopped"})`;
    }
  }

  frame(frame) {
    let payload;
    try {
      payload = JSON.parse(frame.data);
    } catch {
      return; // not ours to show
    }
    if (frame.event === "snapshot") {
      this.renderAll(payload);
      $("live-status").textContent = "Live";
    }
    else if (frame.event === "widget") this.upsert(payload);
  }

  renderAll(data) {
    for (const widget of (data && data.widgets) || []) this.upsert(widget);
    if (data && data.generated_at) {
      $("live-status").dataset.generatedAt = data.generated_at;
      $("kpis").dataset.generatedAt = data.generated_at;
    }
  }

  upsert(widget) {
    if (!widget || !widget.id) return;
    switch (widget.kind) {
      case "kpi":
        return this.kpi(widget);
      case "timeseries":
        return this.timeseries(widget);
      case "bar":
        return this.bar(widget);
      case "table":
        return this.table(widget);
      default:
        return this.unknown(widget);
    }
  }

  /** Puts a new widget element in its layout position. */
  place(container, node, id) {
    const position = this.order.has(id) ? this.order.get(id).index : Number.MAX_SAFE_INTEGER;
    node.dataset.order = String(position);
    const after = [...container.children].find((c) => Number(c.dataset.order) > position);
    container.insertBefore(node, after || null);
  }

  kpi(widget) {
    const d = widget.data || {};
    const id = `kpi-${widget.id}`;
    let tile = document.getElementById(id);
    if (!tile) {
      tile = el(
        "article",
        { class: "tile", id, "data-kpi": widget.metric, "data-widget": widget.id, "aria-labelledby": `${id}-label` },
        el("h3", { id: `${id}-label` }),
        el("p", { class: "value", "data-role": "value" }),
        el("p", { class: "compare" },
          el("span", { "data-role": "previous" }),
          el("span", { "data-role": "change" })),
      );
      this.place($("kpis"), tile, widget.id);
    }
    const label = widget.label || widget.metric;
    const setText = (node, text) => {
      if (node.textContent !== text) node.textContent = text;
    };
    setText(tile.querySelector("h3"), label);
    const value = tile.querySelector('[data-role="value"]');
    setRaw(value, d.value);
    setText(value, formatValue(d.value, d.unit, d.currency));
    const previous = tile.querySelector('[data-role="previous"]');
    setRaw(previous, d.previous);
    setText(previous, `Previous period: ${formatValue(d.previous, d.unit, d.currency)}`);
    const change = tile.querySelector('[data-role="change"]');
    const delta = formatChange(d.value, d.previous, d.unit, d.currency);
    setText(change, delta ? ` · ${delta.text}` : "");
    let tone = "";
    if (delta && delta.direction !== "flat") {
      const good = (delta.direction === "up") !== LOWER_IS_BETTER.has(widget.metric);
      tone = good ? "change-good" : "change-bad";
    }
    change.className = tone;
  }

  /** A widget's section, as wide as the layout says (of 12 columns). */
  figure(widget, columns) {
    const id = `widget-${widget.id}`;
    let section = document.getElementById(id);
    if (!section) {
      const w = (this.order.get(widget.id) || {}).w || columns;
      const span = Math.max(1, Math.min(12, Math.round(w)));
      section = el(
        "section",
        { class: `widget span-${span}`, id, "data-widget": widget.id, "data-kind": widget.kind, "data-metric": widget.metric, "aria-labelledby": `${id}-title` },
        el("h2", { id: `${id}-title` }),
      );
      this.place($("widgets"), section, widget.id);
    }
    const title = section.querySelector("h2");
    title.textContent = widget.label || widget.metric;
    return section;
  }

  timeseries(widget) {
    const d = widget.data || {};
    const points = d.points || [];
    const section = this.figure(widget, 8);
    const xs = points.map((p) => Date.parse(`${p.date}T00:00:00Z`) / 1000);
    const ys = points.map((p) => num(p.value));
    const label = widget.label || widget.metric;
    const summary = seriesSummary(label, points, d);
    let chart = section.querySelector(".chart");
    if (!chart) {
      chart = el("div", { class: "chart", role: "img" });
      const details = el("details", {}, el("summary", { text: "Data table" }), el("div", { class: "table-wrap" }));
      section.append(chart, details);
    }
    chart.setAttribute("aria-label", summary);
    const rows = points.map((p) => [formatDate(p.date), formatValue(p.value, d.unit, d.currency), p.value]);
    section.querySelector("details .table-wrap").replaceChildren(
      dataTable(label, ["Date", "Value"], rows),
    );
    this.plot(widget.id, chart, [xs, ys], () => ({
      series: [{}, seriesStyle(label, d)],
      scales: { x: { time: true }, y: { range: fromZero } },
      legend: { show: false },
      tzDate: (ts) => globalThis.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      axes: axes(d, null),
    }));
  }

  bar(widget) {
    const d = widget.data || {};
    const bars = d.bars || [];
    const section = this.figure(widget, 4);
    const label = widget.label || widget.metric;
    const labels = bars.map((b) => b.label);
    let chart = section.querySelector(".chart");
    if (!chart) {
      chart = el("div", { class: "chart", role: "img" });
      section.append(chart, el("div", { class: "table-wrap" }));
    }
    const total = bars.reduce((sum, b) => sum + (num(b.value) || 0), 0);
    chart.setAttribute(
      "aria-label",
      bars.length
        ? `${label}: ${bars.map((b) => `${b.label} ${formatValue(b.value, d.unit, d.currency)}`).join(", ")}. Total ${formatValue(String(total), d.unit, d.currency)}.`
        : `${label}: no data.`,
    );
    section.querySelector(".table-wrap").replaceChildren(
      dataTable(label, ["Category", "Value"], bars.map((b) => [b.label, formatValue(b.value, d.unit, d.currency), b.value])),
    );
    const xs = bars.map((_, i) => i);
    const ys = bars.map((b) => num(b.value));
    const key = labels.join("\u0000");
    this.plot(widget.id, chart, [xs, ys], () => ({
      series: [{}, { ...seriesStyle(label, d), paths: globalThis.uPlot.paths.bars({ size: [0.6, 64] }), points: { show: false } }],
      scales: { x: { time: false, range: () => [-0.5, Math.max(0, labels.length - 0.5)] }, y: { range: fromZero } },
      axes: axes(d, labels),
      legend: { show: false },
    }), key);
  }

  /** Creates or updates a uPlot chart in `container`; `key` changes force a
   * new chart (the bar chart's categories). */
  plot(id, container, data, options, key = "") {
    const uPlot = globalThis.uPlot;
    if (!uPlot) {
      container.textContent = "Chart unavailable.";
      return;
    }
    const existing = this.charts.get(id);
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) {
      existing.observer.disconnect();
      existing.plot.destroy();
    }
    const width = () => Math.max(240, Math.floor(container.clientWidth || 360));
    const plot = new uPlot({ width: width(), height: 220, ...options() }, data, container);
    const observer = new ResizeObserver(() => {
      const w = width();
      if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: 220 });
    });
    observer.observe(container);
    this.charts.set(id, { plot, observer, key });
  }

  table(widget) {
    const d = widget.data || {};
    const section = this.figure(widget, 12);
    let wrap = section.querySelector(".table-wrap");
    if (!wrap) {
      wrap = el("div", { class: "table-wrap" });
      section.append(wrap);
    }
    const columns = d.columns || [];
    const rows = d.rows || [];
    const table = el("table");
    table.append(el("caption", { class: "visually-hidden", text: widget.label || widget.metric }));
    const head = el("tr");
    for (const c of columns) head.append(el("th", { scope: "col", text: c.label || c.key }));
    table.append(el("thead", {}, head));
    const body = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      for (const c of columns) {
        const v = row[c.key];
        tr.append(el("td", { text: v === null || v === undefined ? "—" : String(v) }));
      }
      body.append(tr);
    }
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: Math.max(1, columns.length), text: "Nothing to show." })));
    }
    table.append(body);
    wrap.replaceChildren(table);
  }

  unknown(widget) {
    const section = this.figure(widget, 4);
    let note = section.querySelector(".hint");
    if (!note) {
      note = el("p", { class: "hint" });
      section.append(note);
    }
    note.textContent = `This page cannot show “${widget.kind}” widgets yet.`;
  }
}

function setRaw(node, raw) {
  if (raw === null || raw === undefined) node.removeAttribute("data-raw");
  else node.setAttribute("data-raw", String(raw));
}

function seriesSummary(label, points, d) {
  if (!points.length) return `${label}: no data.`;
  const values = points.map((p) => num(p.value) || 0);
  const total = values.reduce((a, b) => a + b, 0);
  let max = 0;
  values.forEach((v, i) => {
    if (v > values[max]) max = i;
  });
  const first = points[0].date;
  const last = points[points.length - 1];
  const f = (v) => formatValue(String(v), d.unit, d.currency);
  return `${label} per day from ${formatDate(first)} to ${formatDate(last.date)}: total ${f(total)}, highest ${f(values[max])} on ${formatDate(points[max].date)}, latest ${formatValue(last.value, d.unit, d.currency)}.`;
}

/** A y range from zero (or the lowest negative value) with headroom. */
function fromZero(_, min, max) {
  const low = Math.min(0, min ?? 0);
  const high = Math.max(max ?? 0, low + 1);
  return [low, high + (high - low) * 0.1];
}

function seriesStyle(label, d) {
  return {
    label,
    stroke: cssVar("--chart-line"),
    fill: cssVar("--chart-fill"),
    width: 2,
    value: (_, v) => (v === null || v === undefined ? "—" : formatValue(String(v), d.unit, d.currency)),
  };
}

function axes(d, categories) {
  const text = cssVar("--text");
  const grid = { stroke: cssVar("--chart-grid"), width: 1 };
  const x = { stroke: text, grid, ticks: grid };
  if (categories) {
    x.splits = () => categories.map((_, i) => i);
    x.values = (_, splits) => splits.map((i) => categories[i] ?? "");
    x.grid = { show: false };
    if (categories.length > 3) {
      x.rotate = -35;
      x.size = 70;
    }
  }
  return [
    x,
    {
      stroke: text,
      grid,
      ticks: grid,
      size: 64,
      values: (_, splits) => splits.map((v) => formatValue(String(v), d.unit, d.currency)),
    },
  ];
}

function dataTable(caption, headers, rows) {
  const table = el("table");
  table.append(el("caption", { class: "visually-hidden", text: caption }));
  const head = el("tr");
  headers.forEach((h, i) => head.append(el("th", { scope: "col", class: i ? "num" : null, text: h })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const [name, shown, raw] of rows) {
    body.append(el("tr", {}, el("th", { scope: "row", text: name }), el("td", { class: "num", "data-raw": raw, text: shown })));
  }
  table.append(body);
  return table;
}
