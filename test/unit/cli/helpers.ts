import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { CtlIo } from '../../../src/cli/ctl/io.js';
import { runPgherdctl } from '../../../src/cli/ctl/main.js';

/** pgherdctl run in-process: its exit code, output, and the questions it asked. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly questions: readonly string[];
}

export interface FakeTerminal {
  readonly interactive?: boolean;
  /** Answers to confirmation questions, in order. */
  readonly answers?: string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Where the demo discovery looks (default: a new empty directory). */
  readonly tmpdir?: string;
  /** Stands in for the operator's editor: may rewrite the file; resolves with the editor's exit status. */
  readonly edit?: (file: string) => Promise<number>;
  /** What Ctrl-C would abort (list --watch, watch). */
  readonly interrupt?: AbortController;
  /** Called with each stdout write. */
  readonly onStdout?: (text: string) => void;
}

export async function emptyDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgherd-ctl-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function ctl(t: ExecutionContext, argv: string[], terminal: FakeTerminal = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const questions: string[] = [];
  const answers = [...(terminal.answers ?? [])];
  const io: CtlIo = {
    env: terminal.env ?? {},
    stdout: (text) => {
      stdout += text;
      terminal.onStdout?.(text);
    },
    stderr: (text) => void (stderr += text),
    interactive: terminal.interactive ?? false,
    ask: async (question) => {
      questions.push(question);
      return answers.shift() ?? '';
    },
    catchInterrupt: () => (terminal.interrupt ?? new AbortController()).signal,
    tmpdir: terminal.tmpdir ?? (await emptyDir(t)),
    editFile: terminal.edit ?? (async () => t.fail('no editor expected') as never),
  };
  const code = await runPgherdctl(argv, io);
  return { code, stdout, stderr, questions };
}
