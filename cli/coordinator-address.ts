import { FlagError } from '../src/runtime/config/flag-error.js';

// A gRPC target of its own syntax (dns:///host:port, unix:/path, ipv4:...): passed to grpc-js as it is.
const GRPC_SCHEME = /^(dns|unix|unix-abstract|ipv4|ipv6|vsock):./;
// A host name or IPv4 address, or an IPv6 address in brackets; then :port.
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):([^:]*)$/;

/**
 * --coordinator checked before any connection: `host:port` (1-65535),
 * `[ipv6]:port`, or a gRPC target with its scheme. A malformed address is
 * bad usage (exit 2) at once, not five minutes of retries. `flag` is how the
 * user set it (the flag, or its variable).
 */
export function parseCoordinatorAddress(text: string, flag = '--coordinator'): string {
  const address = text.trim();
  const refuse = (why: string) =>
    new FlagError(flag, text, `${flag} "${text}": ${why}; expected host:port, e.g. coordinator:7070, 10.0.0.5:7070 or [::1]:7070`);
  if (address === '') throw refuse('empty');
  const m = HOST_PORT.exec(address);
  const port = m?.[2];
  // host:7070 (also when the host is named like a scheme: dns:7070), else a scheme's target (unix:/path).
  if (port === undefined || !/^\d+$/.test(port)) {
    if (GRPC_SCHEME.test(address)) return address;
    if (port === '') throw refuse('no port after the colon');
    if (port !== undefined) throw refuse(`port "${port}" is not a number from 1 to 65535`);
  } else {
    if (Number(port) < 1 || Number(port) > 65_535) throw refuse(`port "${port}" is not a number from 1 to 65535`);
    return address;
  }
  if (!address.includes(':') && HOST_PORT.test(`${address}:1`)) throw refuse('no port');
  throw refuse('not a host and port');
}
