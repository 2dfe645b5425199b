/**
 * What a bench started, to be stopped again: steps registered as things
 * are started, run last-registered first, once, from the bench's `finally`
 * and from its SIGINT/SIGTERM handler alike (whichever comes first; the
 * other waits for the same run). A failing step does not stop the others:
 * its message is returned, so a half-stopped machine is reported, never
 * silent.
 */
export class Teardown {
  private readonly steps: { readonly what: string; readonly run: () => Promise<unknown> }[] = [];
  private running: Promise<string[]> | undefined;

  add(what: string, run: () => Promise<unknown>): void {
    if (this.running !== undefined) throw new Error(`teardown already running; cannot add "${what}"`);
    this.steps.push({ what, run });
  }

  /** Runs every step (newest first); resolves with "what: why" for each step that failed. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failures: string[] = [];
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (error) {
          failures.push(`${step.what}: ${(error as Error).message}`);
        }
      }
      return failures;
    })();
    return this.running;
  }
}
