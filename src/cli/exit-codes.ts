/**
 * Exit codes of the pgherd command (stable: scripts and systemd units rely on them).
 *
 * | code | meaning                                                        |
 * |------|----------------------------------------------------------------|
 * | 0    | success (also --help and --version)                            |
 * | 1    | an unexpected internal error (a bug: the stack goes to stderr) |
 * | 2    | usage error (unknown command or option) or invalid configuration |
 * | 3    | `run`: the agent could not start (bind failure, storage, PostgreSQL missing); `certs`: openssl missing or failing |
 *
 * `certs` exits 2 for a bad argument, a CA it cannot use, or a file it would overwrite without --force: nothing is written then.
 */
export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE_OR_CONFIG = 2;
export const EXIT_START_FAILED = 3;
/** `certs init|issue`: the certificate could not be made (openssl missing or failing, a file that cannot be written). */
export const EXIT_CERTS_FAILED = 3;
