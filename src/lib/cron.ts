import { CronExpressionParser } from 'cron-parser';

/*
 * Cron expressions (cron-parser), always in UTC: the cluster's members may
 * sit in different time zones, and a schedule must fire at the same instant
 * for all of them.
 */

/** Why `text` is not a cron expression, or null when it is one. */
export function cronProblem(text: string): string | null {
  const fields = text.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return `${fields} fields, expected 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first)`;
  try {
    CronExpressionParser.parse(text, { tz: 'UTC', strict: false });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The latest time at or before `nowMs` that `text` names (UTC), in ms. Throws on an invalid expression. */
export function cronPreviousMs(text: string, nowMs: number): number {
  // cron-parser's prev() is strictly before currentDate: ask from 1 ms after now.
  return CronExpressionParser.parse(text, { tz: 'UTC', currentDate: new Date(nowMs + 1) }).prev().getTime();
}

/** The first time after `nowMs` that `text` names (UTC), in ms. Throws on an invalid expression. */
export function cronNextMs(text: string, nowMs: number): number {
  return CronExpressionParser.parse(text, { tz: 'UTC', currentDate: new Date(nowMs) }).next().getTime();
}
