import { NetnsNetwork, sweepStale } from './netns.js';
import type { ChaosHosts } from './types.js';

export type BackendKind = ChaosHosts['kind'];
export const BACKENDS: readonly BackendKind[] = ['netns'];

/** Whether `kind` can run here; `why` says what is missing and how to get it. */
export async function backendAvailable(_kind: BackendKind): Promise<{ ok: true } | { ok: false; why: string }> {
  return NetnsNetwork.available();
}

/** Hosts for `nodes` on the chosen backend. */
export async function createHosts(_kind: BackendKind, nodes: readonly string[], _dir: string): Promise<ChaosHosts> {
  return NetnsNetwork.create({ nodes });
}

/** Remove what dead runs left behind; returns what was removed. */
export async function sweepStaleHosts(_kind: BackendKind): Promise<string[]> {
  return sweepStale();
}
