/**
 * grpc-js passes the dialled host as the TLS server name, and Node warns
 * (DEP0123) when that is an IP address, which is how members are dialled.
 * The server's identity is checked against its IP SANs (identity.ts), so
 * the warning tells an operator nothing: drop it, print every other one.
 */
export function silenceIpServerNameWarning(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code !== 'DEP0123') for (const print of printers) print(warning);
  });
}
