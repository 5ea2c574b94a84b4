// Formatting of the API's decimal strings by unit. The raw strings stay
// what the API sent (data-raw); numbers are used for display only.

const LOCALE = "en-CA";

const countFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const percentFormat = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 1 });
const moneyFormats = new Map();

function moneyFormat(currency) {
  const code = currency || "CAD";
  if (!moneyFormats.has(code)) {
    let format;
    try {
      format = new Intl.NumberFormat(LOCALE, { style: "currency", currency: code });
    } catch {
      format = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    moneyFormats.set(code, format);
  }
  return moneyFormats.get(code);
}

/** The number of a decimal string, or null. */
export function num(raw) {
  if (raw === null || raw === undefined || raw === "") return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

function duration(seconds) {
  const s = Math.round(Math.abs(seconds));
  const sign = seconds < 0 ? "−" : "";
  if (s < 60) return `${sign}${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return `${sign}${m} min${rest ? ` ${rest} s` : ""}`;
  }
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    return `${sign}${h} h${m ? ` ${m} min` : ""}`;
  }
  const d = Math.floor(s / 86400);
  const h = Math.round((s % 86400) / 3600);
  return `${sign}${d} d${h ? ` ${h} h` : ""}`;
}

/** A value of `unit` for display ("—" when there is none). */
export function formatValue(raw, unit, currency) {
  const n = num(raw);
  if (n === null) return "—";
  switch (unit) {
    case "money":
      return moneyFormat(currency).format(n);
    case "percent":
      return percentFormat.format(n);
    case "seconds":
      return duration(n);
    case "days":
      return `${countFormat.format(n)} ${Math.abs(n) === 1 ? "day" : "days"}`;
    default:
      return countFormat.format(n);
  }
}

/** The change from `previous` to `value`: {text, direction} or null. A
 * percentage's change is in points; others also give the relative change. */
export function formatChange(rawValue, rawPrevious, unit, currency) {
  const value = num(rawValue);
  const previous = num(rawPrevious);
  if (value === null || previous === null) return null;
  const delta = value - previous;
  const direction = delta > 0 ? "up" : delta < 0 ? "down" : "flat";
  if (direction === "flat") return { text: "no change", direction };
  const sign = delta > 0 ? "+" : "−";
  let text;
  if (unit === "percent") {
    text = `${sign}${countFormat.format(Math.abs(delta) * 100)} pts`;
  } else {
    text = `${sign}${formatValue(String(Math.abs(delta)), unit, currency)}`;
    if (previous !== 0) {
      text += ` (${sign}${percentFormat.format(Math.abs(delta / previous))})`;
    }
  }
  return { text, direction };
}

/** A date (YYYY-MM-DD) as a short label. */
export function formatDate(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString(LOCALE, { month: "short", day: "numeric", timeZone: "UTC" });
}

/** A timestamp for display, in the browser's zone. */
export function formatTimestamp(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(LOCALE, { dateStyle: "medium", timeStyle: "short" });
}
