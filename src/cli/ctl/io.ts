import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline/promises';

/** Everything pgherdctl touches outside its arguments, so tests run it in-process. */
export interface CtlIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stdin and stdout are terminals: a destructive command may ask, list --watch redraws the screen. */
  readonly interactive: boolean;
  /** Ask on the terminal (the question on stderr, so --json output stays clean); resolves with the answer. */
  readonly ask: (question: string) => Promise<string>;
  /** From now on Ctrl-C aborts the returned signal instead of killing the process (list --watch ends cleanly). */
  readonly catchInterrupt: () => AbortSignal;
  /** Where `npm run demo` makes its pgherd-demo-* directories (and edit-config its file to edit). */
  readonly tmpdir: string;
  /** Open `file` in the operator's editor ($VISUAL, $EDITOR, else vi) on this terminal; resolves with its exit status. */
  readonly editFile: (file: string) => Promise<number>;
}

/** The editor when neither VISUAL nor EDITOR names one. */
const EDITOR_DEFAULT = 'vi';

/** The real process: its environment, streams, terminal and SIGINT. */
export function processIo(): CtlIo {
  return {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
    ask: async (question) => {
      const terminal = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await terminal.question(question);
      } finally {
        terminal.close();
      }
    },
    catchInterrupt: () => {
      const interrupt = new AbortController();
      process.once('SIGINT', () => interrupt.abort());
      return interrupt.signal;
    },
    tmpdir: tmpdir(),
    editFile: (file) =>
      new Promise((resolve, reject) => {
        const editor = process.env['VISUAL'] || process.env['EDITOR'] || EDITOR_DEFAULT;
        // Through the shell: the variable may carry arguments (EDITOR="code --wait").
        const child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'pgherdctl-editor', file], { stdio: 'inherit' });
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
      }),
  };
}
