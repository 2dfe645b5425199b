/**
 * Times on the admin API: RFC 3339 text with an explicit zone, in and out.
 * Pure. Date.parse alone is too lenient for requests (it rolls 30 February
 * over to March and takes 24:00), so every field is checked.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;

export const RFC3339_FORM = 'an RFC 3339 time with a zone (e.g. 2026-12-01T03:00:00Z or 2026-12-01T04:00:00+01:00)';

/** Milliseconds since the epoch, or undefined when `text` is not a valid RFC 3339 time with a zone. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = match[7] === undefined ? 0 : Math.floor(Number(`0${match[7]}`) * 1000);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const localMs = Date.UTC(year, month - 1, day, hour, minute, second, fraction);
  // Day 31 of a 30-day month rolls over: the date must come back unchanged.
  if (new Date(localMs).getUTCDate() !== day || year < 1970) return undefined;
  if (match[8] === 'Z' || match[8] === 'z') return localMs;
  const offsetHours = Number(match[10]);
  const offsetMinutes = Number(match[11]);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000 * (match[9] === '-' ? -1 : 1);
  return localMs - offsetMs;
}

/** RFC 3339 in UTC with milliseconds; '' for null (the wire's "none"). */
export function formatTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString();
}
