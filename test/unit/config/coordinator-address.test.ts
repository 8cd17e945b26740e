import { describe, expect, it } from 'vitest';
import { parseCoordinatorAddress } from '../../../cli/coordinator-address.js';
import { ConfigError } from '../../../src/runtime/config/config-error.js';

const refusalOf = (text: string) => {
  try {
    parseCoordinatorAddress(text);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
};

describe('--coordinator', () => {
  it('takes host:port, IPv4, bracketed IPv6 and gRPC targets', () => {
    for (const ok of ['coordinator:7070', 'fleet-coordinator.ns.svc:7070', '10.0.0.5:1', '[::1]:65535', 'dns:///c:7070', 'unix:/tmp/s']) {
      expect(parseCoordinatorAddress(ok)).toBe(ok);
    }
  });

  it('refuses what has no port, a bad port, or is no address at all, naming the flag and the value', () => {
    expect(refusalOf('localhost')).toBe(
      '--coordinator "localhost": no port; expected host:port, e.g. coordinator:7070, 10.0.0.5:7070 or [::1]:7070',
    );
    expect(refusalOf('host:')).toMatch(/^--coordinator "host:": no port after the colon;/);
    expect(refusalOf('host:abc')).toMatch(/^--coordinator "host:abc": port "abc" is not a number from 1 to 65535;/);
    expect(refusalOf('host:0')).toMatch(/port "0" is not a number from 1 to 65535/);
    expect(refusalOf('host:70700')).toMatch(/port "70700"/);
    expect(refusalOf('::garbage::')).toMatch(/^--coordinator "::garbage::": not a host and port;/);
    expect(refusalOf('')).toMatch(/: empty;/);
    expect(refusalOf('http://c:7070')).toMatch(/not a host and port/);
  });
});
