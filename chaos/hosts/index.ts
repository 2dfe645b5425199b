import { DockerHosts, sweepStaleDocker } from './docker.js';
import { NetnsNetwork, sweepStale } from './netns.js';
import type { ChaosHosts } from './types.js';

export type BackendKind = ChaosHosts['kind'];
export const BACKENDS: readonly BackendKind[] = ['netns', 'docker'];

/** Whether `kind` can run here; `why` says what is missing and how to get it. */
export async function backendAvailable(kind: BackendKind): Promise<{ ok: true } | { ok: false; why: string }> {
  return kind === 'netns' ? NetnsNetwork.available() : DockerHosts.available();
}

/** Hosts for `nodes` on the chosen backend; `dir` is where the nodes' files live (mounted into containers). */
export async function createHosts(kind: BackendKind, nodes: readonly string[], dir: string): Promise<ChaosHosts> {
  return kind === 'netns' ? NetnsNetwork.create({ nodes }) : DockerHosts.create({ nodes, baseDir: dir });
}

/** Remove what dead runs of this backend left behind; returns what was removed. */
export async function sweepStaleHosts(kind: BackendKind): Promise<string[]> {
  return kind === 'netns' ? sweepStale() : sweepStaleDocker();
}
