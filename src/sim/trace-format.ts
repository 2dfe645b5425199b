import type { Message, Ready } from '../raft/core/types.js';

/** One-line descriptions for the replay trace (`npm run sim -- --seed S --trace`). */

export function describeReady(ready: Ready): string {
  const parts: string[] = ['ready'];
  if (ready.softState !== undefined) parts.push(`${ready.softState.role} (leader ${ready.softState.leader || '-'})`);
  if (ready.hardState !== undefined) parts.push(`hs ${ready.hardState.term}/${ready.hardState.vote || '-'}/${ready.hardState.commit}`);
  if (ready.snapshot !== undefined) parts.push(`snapshot ${ready.snapshot.metadata.index}/${ready.snapshot.metadata.term}`);
  if (ready.entries.length > 0) parts.push(`entries ${ready.entries[0]!.index}..${ready.entries[ready.entries.length - 1]!.index} (term ${ready.entries[ready.entries.length - 1]!.term})`);
  if (ready.committedEntries.length > 0) parts.push(`apply ${ready.committedEntries[0]!.index}..${ready.committedEntries[ready.committedEntries.length - 1]!.index}`);
  if (ready.messages.length > 0) parts.push(`${ready.messages.length} msgs`);
  if (ready.readStates.length > 0) parts.push(`${ready.readStates.length} read states`);
  return parts.join(', ');
}

export function describeMessage(m: Message): string {
  const entries = m.entries.length === 0 ? '' : ` entries ${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}`;
  const reject = m.reject ? ` reject (hint ${m.rejectHint}/${m.rejectHintTerm ?? '-'})` : '';
  const snap = m.snapshot === undefined ? '' : ` snapshot ${m.snapshot.metadata.index}/${m.snapshot.metadata.term}`;
  return `<- ${m.from} ${m.type} term ${m.term} index ${m.index} logTerm ${m.logTerm} commit ${m.commit}${entries}${reject}${snap}`;
}
