// Dates as callers of the incumbent plugin send them, turned into the
// agent's issuedDate (YYYY-MM-DD, the date in Vietnam: UTC+07:00 all year,
// no daylight saving).

const VN = 7 * 3600e3;
const pad = (n: number) => (n < 10 ? "0" : "") + n;

/** The calendar date in Vietnam (YYYY-MM-DD) of an instant (ms since the epoch). */
export function vnDay(ms: number): string {
  const d = new Date(ms + VN);
  return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
}

/** An instant as ISO 8601 with the Vietnam offset: 2026-11-22T14:05:09+07:00. */
export function vnTime(iso: string | undefined): string {
  const ms = iso ? Date.parse(iso) : NaN;
  if (isNaN(ms)) return iso || "";
  return new Date(ms + VN).toISOString().slice(0, 19) + "+07:00";
}

function ymd(y: number, m: number, d: number): string | null {
  const t = Date.UTC(y, m - 1, d);
  const x = new Date(t);
  return x.getUTCFullYear() == y && x.getUTCMonth() == m - 1 && x.getUTCDate() == d ? y + "-" + pad(m) + "-" + pad(d) : null;
}

/**
 * IssuedDate as real callers send it → "YYYY-MM-DD" in Vietnam time;
 * undefined when empty or absent (the agent then uses the signing day);
 * null when it cannot be read.
 *
 * - "2019-03-12": as is.
 * - ISO 8601 with an offset or Z ("2019-03-12T12:00:00+07:00",
 *   "2019-03-11T17:00:00.000Z" from JSON.stringify(new Date(…))): the
 *   instant's date in Vietnam (both give 2019-03-12).
 * - ISO 8601 without an offset ("2019-03-12T08:00:00"): the written date
 *   (a local time of the caller, taken as Vietnam's).
 * - "12/03/2019" (dd/mm/yyyy, the Vietnamese order), "/Date(1552323600000)/"
 *   (ASP.NET's JSON date), a number of ms since the epoch, a Date object.
 */
export function vnDate(v: unknown): string | undefined | null {
  if (v == null) return undefined;
  if (v instanceof Date || Object.prototype.toString.call(v) == "[object Date]") {
    const t = (v as Date).getTime();
    return isNaN(t) ? null : vnDay(t);
  }
  if (typeof v == "number") return isFinite(v) ? vnDay(v) : null;
  if (typeof v != "string") return null;
  const s = v.trim();
  if (!s) return undefined;
  let m = /^(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i.exec(s);
  if (m) {
    const day = ymd(+m[1], +m[2], +m[3]);
    if (!day || !m[4]) return day;
    if (+m[5] > 24 || +m[6] > 59 || +(m[7] || 0) > 60) return null;
    if (!m[8]) return day;
    // Normalise the offset for Date.parse: +07 / +0700 → +07:00.
    const off = m[8].toUpperCase() == "Z" ? "Z" : m[8].slice(0, 3) + ":" + (m[8].slice(3).replace(":", "") || "00");
    const t = Date.parse(s.slice(0, m[8] ? s.length - m[8].length : s.length).trim().replace(" ", "T").replace(",", ".") + off);
    return isNaN(t) ? null : vnDay(t);
  }
  if ((m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(s))) return ymd(+m[3], +m[2], +m[1]);
  if ((m = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(s))) return vnDay(+m[1]);
  return null;
}
