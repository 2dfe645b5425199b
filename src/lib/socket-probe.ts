import { connect } from 'node:net';

/**
 * Connect to a unix socket and hang up: whether a process serves it.
 * 'timeout' when neither a connection nor an error came within `timeoutMs`
 * (a frozen server); callers decide what that means for them.
 */
export function probeSocket(path: string, timeoutMs: number): Promise<'connected' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const probe = connect(path);
    const done = (result: 'connected' | 'refused' | 'timeout'): void => {
      probe.destroy();
      resolve(result);
    };
    probe.setTimeout(timeoutMs, () => done('timeout'));
    probe.once('connect', () => done('connected'));
    probe.once('error', () => done('refused'));
  });
}
