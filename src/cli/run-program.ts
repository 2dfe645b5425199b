import { CommanderError, type Command } from 'commander';

/**
 * Run a commander program built by `build` (which reports its command's
 * exit code through `setExitCode`): 0 for --help and --version, `usage`
 * for commander's own refusals (unknown command or option), `internal`
 * with the stack on stderr for anything unexpected. Shared by pgherd and
 * pgherdctl, whose exit-code tables agree on these three.
 */
export async function runProgram(
  build: (setExitCode: (code: number) => void) => Command,
  argv: readonly string[],
  stderr: (text: string) => void,
  codes: { readonly ok: number; readonly usage: number; readonly internal: number },
): Promise<number> {
  let exitCode = codes.ok;
  const program = build((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? codes.ok : codes.usage;
    stderr(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return codes.internal;
  }
}
