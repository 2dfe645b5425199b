import { CtlDeclinedError, CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';

/**
 * Destructive commands (switchover, failover, edit-config) ask before they
 * act, unless --force. Without a terminal there is nobody to ask: that is a
 * usage error (exit 2) telling to pass --force, checked before anything is
 * sent. `what` says what the command changes.
 */
export function requireConfirmable(command: string, force: boolean, io: CtlIo, what = 'changes the primary'): void {
  if (force || io.interactive) return;
  throw new CtlUsageError(`${command} ${what} and asks for confirmation, but there is no terminal to ask on: pass --force to ${command} without asking`);
}

/** Ask `question` unless --force; anything but y/yes declines (exit 1, nothing changed). */
export async function confirm(question: string, force: boolean, io: CtlIo): Promise<void> {
  if (force) return;
  const answer = (await io.ask(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new CtlDeclinedError('not confirmed: nothing changed');
}
