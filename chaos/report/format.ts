/** Text formatting shared by the summary and the timeline picture. Pure. */

/** A moment since the run started: "12.3" (or more digits, for short intervals). */
export function secondsText(ms: number, digits = 1): string {
  return (ms / 1000).toFixed(digits);
}

/** A duration: "2.85 s". */
export function durationText(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** "12.0–20.5 s", or "12.0 s–(never healed)" for an open end. */
export function spanText(fromMs: number, toMs: number | null, digits = 1): string {
  return toMs === null ? `${secondsText(fromMs, digits)} s–(never healed)` : `${secondsText(fromMs, digits)}–${secondsText(toMs, digits)} s`;
}

export function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** "n2/tl2"; a primary sample without a timeline shows "tl?". */
export function serverText(server: string, timeline: number | null): string {
  return `${server}/tl${timeline ?? '?'}`;
}

/** One line of at most maxChars: newlines folded, control characters (a terminal's colour codes) shown as U+FFFD, the rest cut with an ellipsis. */
export function oneLine(text: string, maxChars: number): string {
  const line = text.replace(/\s*\r?\n\s*/g, ' ⏎ ').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\uFFFD').trim();
  return line.length <= maxChars ? line : `${line.slice(0, maxChars - 1)}…`;
}

/** The first `max` items joined, and how many were left out. */
export function listText<T>(items: readonly T[], max: number, show: (item: T) => string, separator = ', '): string {
  const shown = items.slice(0, max).map(show).join(separator);
  return items.length > max ? `${shown}${separator}… ${items.length - max} more` : shown;
}
