/**
 * Exit codes of pgherdctl (stable: scripts branch on them).
 *
 * | code | meaning                                                                 |
 * |------|-------------------------------------------------------------------------|
 * | 0    | done (also --help and --version)                                        |
 * | 1    | refused: the cluster said no, or the operator did at the prompt (the reason is printed); also an internal error |
 * | 2    | usage or configuration error: a flag, argument or file is wrong (nothing was asked of the cluster) |
 * | 3    | unreachable: no agent answered, or the one that did cannot reach Raft now (UNAVAILABLE): retry later |
 */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;
