import type { Command } from 'commander';
import type { CtlIo } from './io.js';
import { registerPauseSwitch } from './pause.js';

/** `pgherdctl resume [--by TEXT]`: leave maintenance mode. Refused (exit 1) when the cluster is not paused. */
export function registerResume(program: Command, io: CtlIo, setExitCode: (code: number) => void): void {
  registerPauseSwitch(program, io, setExitCode, {
    name: 'resume',
    paused: false,
    description: 'leave maintenance mode: automatic failover again',
    byHelp: "who resumes, recorded in the cluster state (default pgherdctl@<this client's address>)",
  });
}
