import type { NodeId } from './types.js';

/**
 * Majority quorum math, pure. One configuration at a time (pgherd does
 * one-at-a-time membership changes, never joint consensus).
 */

export type VoteResult = 'won' | 'lost' | 'pending';

/** How many of `voterCount` voters make a majority. */
export function majoritySize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest log index that a majority of `voters` has matched. A voter
 * whose match is unknown counts as 0. An empty configuration commits nothing.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number | undefined): number {
  if (voters.length === 0) return 0;
  const matchesDescending = voters.map((id) => matchOf(id) ?? 0).sort((a, b) => b - a);
  return matchesDescending[majoritySize(voters.length) - 1]!;
}

/**
 * The outcome of an election (or of any yes/no poll such as quorum activity
 * or read-index acknowledgements). Votes from non-voters are ignored. An
 * empty configuration can never win.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'lost';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing++;
    else if (vote) granted++;
  }
  const needed = majoritySize(voters.length);
  if (granted >= needed) return 'won';
  if (granted + missing >= needed) return 'pending';
  return 'lost';
}
