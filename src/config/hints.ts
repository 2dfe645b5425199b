/** "Did you mean …" hints for unknown keys and environment variables. */

/** Edit distance (insert, delete, substitute) between two short strings. */
export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Near misses are at most this many edits away (and closer than the word is long). */
export const HINT_DISTANCE_MAX = 2;

/** The known word closest to `word` within HINT_DISTANCE_MAX edits; ties go to the first in `known`. */
export function closest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(HINT_DISTANCE_MAX, word.length - 1) + 1;
  for (const candidate of known) {
    const distance = levenshtein(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
