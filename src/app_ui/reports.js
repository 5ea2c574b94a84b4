// The reports view: the tenant's reports, and a form that requests one,
// generates it, waits for it and offers its file.

import { get, post, send, ApiError, dispositionFilename } from "./api.js";
import { formatTimestamp } from "./format.js";

const $ = (id) => document.getElementById(id);
const PARAM_FIELDS = ["from", "to", "as_of"];
const FORMAT_LABELS = { PDF: "PDF", EXCEL: "Excel (.xlsx)", CSV: "CSV", JSON: "JSON" };
const EXTENSIONS = { PDF: "pdf", EXCEL: "xlsx", CSV: "csv", JSON: "json" };

function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function problemText(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const fields = ((error.problem && error.problem.errors) || [])
    .map((e) => (e.field ? `${e.field}: ${e.message || e.detail || "invalid"}` : e.message || e.detail))
    .filter(Boolean);
  return fields.length ? `${error.message} — ${fields.join("; ")}` : error.message;
}

function sizeText(bytes) {
  if (typeof bytes !== "number") return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Fetches a report's file with the token and saves it through a Blob URL. */
export async function download(report) {
  const url = report.file && /^\/v1\/reports\/[\w-]+\//.test(report.file.url || "")
    ? report.file.url
    : `/v1/reports/${encodeURIComponent(report.id)}/file`;
  const response = await send(url, { headers: { Accept: "*/*" } });
  const blob = await response.blob();
  const name =
    dispositionFilename(response.headers.get("Content-Disposition")) ||
    (report.file && report.file.file_name) ||
    `${(report.name || "report").replace(/[^\w.-]+/g, "_")}.${EXTENSIONS[report.format] || "bin"}`;
  const objectUrl = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = objectUrl;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000);
  return name;
}

export class ReportsView {
  constructor() {
    this.catalogue = null;
    this.loaded = null;
    this.controller = new AbortController();
    this.reports = new Map();
    $("report-name").addEventListener("input", (e) => {
      e.target.dataset.auto = "false";
    });
    $("report-key").addEventListener("change", () => this.choose());
    $("report-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.request();
    });
    $("reports-refresh").addEventListener("click", () => this.list().catch((e) => this.error(e)));
    $("reports-table").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-download]");
      if (button) this.downloadFrom(button);
    });
    $("report-download-slot").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-download]");
      if (button) this.downloadFrom(button);
    });
  }

  show() {
    if (!this.loaded) {
      this.loaded = Promise.all([this.loadCatalogue(), this.list()]).catch((e) => {
        this.loaded = null;
        this.error(e);
      });
    }
    return this.loaded;
  }

  reset() {
    this.controller.abort();
    this.controller = new AbortController();
    this.loaded = null;
    this.catalogue = null;
    this.reports = new Map();
    $("report-key").replaceChildren();
    $("report-format").replaceChildren();
    $("reports-table").tBodies[0].replaceChildren();
    $("report-progress").replaceChildren();
    $("report-download-slot").replaceChildren();
    $("reports-error").hidden = true;
    $("report-submit").disabled = false;
  }

  error(e) {
    if (e instanceof ApiError && e.status === 401) return; // signed out
    if (e && e.name === "AbortError") return;
    const box = $("reports-error");
    box.textContent = problemText(e);
    box.hidden = false;
  }

  async loadCatalogue() {
    const body = await get("/v1/reports/catalogue");
    this.catalogue = (body && body.items) || [];
    const select = $("report-key");
    select.replaceChildren(
      ...this.catalogue.map((item) => new Option(item.title || item.key, item.key)),
    );
    const today = new Date();
    $("report-from").value = isoDate(new Date(today.getFullYear(), today.getMonth(), 1));
    $("report-to").value = isoDate(today);
    $("report-as-of").value = isoDate(today);
    this.choose();
  }

  current() {
    const key = $("report-key").value;
    return (this.catalogue || []).find((item) => item.key === key) || null;
  }

  /** Shows the chosen report's description, formats and parameters. */
  choose() {
    const item = this.current();
    $("report-key-description").textContent = item ? (item.description || "").replace(/`/g, "") : "";
    const format = $("report-format");
    const previous = format.value;
    const formats = item && item.formats && item.formats.length ? item.formats : ["PDF", "EXCEL", "CSV", "JSON"];
    format.replaceChildren(...formats.map((f) => new Option(FORMAT_LABELS[f] || f, f)));
    if (formats.includes(previous)) format.value = previous;
    const schema = (item && item.parameters) || {};
    const properties = schema.properties || {};
    const required = new Set(schema.required || []);
    for (const name of PARAM_FIELDS) {
      const field = document.querySelector(`[data-param="${name}"]`);
      const input = field.querySelector("input");
      const wanted = item ? name in properties : name !== "as_of";
      field.hidden = !wanted;
      input.required = wanted && required.has(name);
    }
    const name = $("report-name");
    if (!name.value || name.dataset.auto === "true") {
      name.value = item ? item.title || item.key : "";
      name.dataset.auto = "true";
    }
  }

  async list() {
    const body = await get("/v1/reports");
    const items = (body && body.items) || [];
    this.reports = new Map(items.map((r) => [r.id, r]));
    const rows = items.map((r) => this.row(r));
    $("reports-table").tBodies[0].replaceChildren(...rows);
    $("reports-empty").hidden = items.length > 0;
  }

  row(report) {
    const tr = document.createElement("tr");
    tr.dataset.report = report.id;
    const cell = (text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    };
    const status = cell(report.status);
    if (report.status === "FAILED" && report.error) status.textContent = `FAILED: ${report.error}`;
    const action = document.createElement("td");
    if (report.status === "COMPLETED" && report.file) action.append(this.downloadButton(report));
    tr.append(
      cell(report.name),
      cell(report.report_type || ""),
      cell(FORMAT_LABELS[report.format] || report.format || ""),
      status,
      cell(formatTimestamp(report.last_generated_at)),
      action,
    );
    return tr;
  }

  downloadButton(report) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.dataset.download = report.id;
    const size = report.file ? sizeText(report.file.size) : "";
    button.textContent = `Download${size ? ` (${size})` : ""}`;
    button.setAttribute("aria-label", `Download ${report.name}${size ? `, ${size}` : ""}`);
    return button;
  }

  async downloadFrom(button) {
    const report = this.reports && this.reports.get(button.dataset.download);
    if (!report) return;
    button.disabled = true;
    const progress = $("report-progress");
    try {
      const name = await download(report);
      progress.textContent = `Downloaded ${name}.`;
      progress.dataset.downloaded = name;
    } catch (e) {
      this.error(e);
    } finally {
      button.disabled = false;
    }
  }

  /** Requests, generates and waits for a report. */
  async request() {
    const form = $("report-form");
    $("reports-error").hidden = true;
    if (!form.checkValidity()) {
      form.reportValidity();
      return;
    }
    const item = this.current();
    if (!item) return;
    const parameters = { report: item.key };
    for (const name of PARAM_FIELDS) {
      const field = document.querySelector(`[data-param="${name}"]`);
      const value = field.querySelector("input").value;
      if (!field.hidden && value) parameters[name] = value;
    }
    if (Boolean(parameters.from) !== Boolean(parameters.to) && !document.querySelector('[data-param="from"]').hidden) {
      this.error(new Error("Give both ends of the period, or neither (the report's default period)."));
      $(parameters.from ? "report-to" : "report-from").focus();
      return;
    }
    if (parameters.from && parameters.to && parameters.from > parameters.to) {
      this.error(new Error("The period's start is after its end."));
      $("report-from").focus();
      return;
    }
    const submit = $("report-submit");
    const progress = $("report-progress");
    const slot = $("report-download-slot");
    const signal = this.controller.signal;
    submit.disabled = true;
    slot.replaceChildren();
    delete progress.dataset.downloaded;
    try {
      progress.textContent = "Requesting the report…";
      const body = {
        name: $("report-name").value.trim(),
        report_type: item.report_type,
        parameters,
        format: $("report-format").value,
      };
      const created = await post("/v1/reports", body, { signal });
      progress.textContent = "Generating…";
      const path = `/v1/reports/${encodeURIComponent(created.id)}`;
      const run = (await post(`${path}/generate`, {}, { signal })) || {};
      // Read our own write: the report as of the run request, then until
      // that run is done.
      const poll = Number.isInteger(run.version) ? `${path}?min_version=${run.version}` : path;
      let report = null;
      let delay = 500;
      for (;;) {
        report = await get(poll, { signal });
        const ours = !run.run_id || !report.latest_run_id || report.latest_run_id === run.run_id;
        if (ours && (report.status === "COMPLETED" || report.status === "FAILED")) break;
        progress.textContent = report.status === "GENERATING" ? "Generating…" : "Waiting to be generated…";
        await sleep(delay, signal);
        if (signal.aborted) return;
        delay = Math.min(5000, Math.round(delay * 1.5));
      }
      this.reports.set(report.id, report);
      const outcome = document.createElement("span");
      if (report.status === "COMPLETED") {
        outcome.className = "done";
        outcome.textContent = `“${report.name}” is ready.`;
        progress.replaceChildren(outcome);
        if (report.file) slot.replaceChildren(this.downloadButton(report));
      } else {
        outcome.className = "failed";
        outcome.textContent = `“${report.name}” failed${report.error ? `: ${report.error}` : "."}`;
        progress.replaceChildren(outcome);
      }
      progress.dataset.status = report.status;
      progress.dataset.report = report.id;
      await this.list();
      this.reports.set(report.id, report);
    } catch (e) {
      progress.textContent = "";
      this.error(e);
    } finally {
      submit.disabled = false;
    }
  }
}
