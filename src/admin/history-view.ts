import type { HistoryEntry } from '../cluster/state.js';
import { formatTime } from './time.js';
import type { WireHistoryResponse } from './wire.js';

/** The History answer, pure: every timeline switch of the cluster state, oldest first. */
export function historyResponse(history: readonly HistoryEntry[]): WireHistoryResponse {
  return {
    entries: history.map((entry) => ({
      timeline: entry.timeline,
      switch_lsn: entry.switchLsn,
      at: formatTime(entry.atMs),
      kind: entry.kind,
      from: entry.oldPrimary ?? '',
      to: entry.newPrimary,
      reason: entry.reason,
    })),
  };
}
