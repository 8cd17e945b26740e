/**
 * Several "hosts" on one Linux machine, for tests and measurements of fleet
 * across a network: each host is a network namespace with one interface,
 * eth0, cabled (a veth pair) to one Linux bridge that lives in a namespace of
 * its own, so nothing touches the machine's real network.
 *
 *   bridge namespace <id>-switch:  br0 ── port-a ── port-b ── port-c ...
 *                                          │          │         │      (veth pairs)
 *   host namespaces  <id>-a, <id>-b ...:   eth0       eth0      eth0
 *                                          10.77.K.10 10.77.K.11 10.77.K.12  /24
 *
 *   import { hostsSupport, makeHosts } from '../helpers/net-hosts.js';
 *   describe.skipIf(!hostsSupport.ok)(..., () => {
 *     const net = await makeHosts({ n: 3, rate: '1gbit' });    // hosts a, b, c; or names: ['coord', 'w0']
 *     const [a, b] = net.hosts;
 *     const c = a.fleet(['coordinator', '--host', a.address, '--port', '7070', ...]);  // a real child process
 *     const w = b.fleet(['worker', '--coordinator', `${a.address}:7070`]);
 *     const nats = a.spawn('nats-server', ['-a', a.address, '-p', '4333', '-js', '-sd', dir]);
 *     await a.setRate('20mbit');   // tbf both ways on a's cable: what a sends and what it receives
 *     await a.setRate(null);       // unlimited again
 *     await b.down(); await b.up();  // b's cable pulled at the switch and put back (a partition)
 *     await a.counters();          // { txBytes, rxBytes } of a's eth0 (what a sent and received)
 *     await a.shaper();            // tbf's counters (sent bytes, drops, overlimits) each way, or null
 *     await net.teardown();        // kills every process started here, deletes the namespaces
 *   });
 *
 * Support is checked once at module load with a real try (make a namespace,
 * a veth pair and a tbf qdisc in it, delete it): `hostsSupport.ok` is false
 * with `hostsSupport.reason` when not root, `ip`/`tc` is missing, or the
 * kernel refuses (EPERM in a container, no veth or tbf). netem is not used:
 * the kernels this runs on lack it; tbf is built in.
 *
 * Names and cleanup: every namespace is named `flh<pid>-<random>-<host>`
 * (pid: the process that made it), so parallel test files never collide.
 * teardown() (call it in afterAll) kills the processes and deletes the
 * namespaces; an 'exit' hook does the same for nets a failed test left;
 * makeHosts() first removes leftovers of earlier runs whose process is gone
 * (killed before its hooks ran), processes still in them included.
 *
 * Addresses: every net uses one /24 (10.77.K.0/24, K chosen so that no
 * address of the machine's own interfaces falls inside it, to keep logs
 * unambiguous); host i is .10+i. Two nets with the same addresses do not
 * meet: each lives in its own namespaces.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { FLEET_BIN } from './run-fleet.js';
import { startLineProcess, type LineProcess } from './line-process.js';

const run = promisify(execFile);

/** Prefix of every namespace this module makes (and the only ones it ever deletes). */
export const NETNS_PREFIX = 'flh';

export interface HostsSupport {
  ok: boolean;
  /** Why hosts cannot be made here (empty when ok). */
  reason: string;
}

export interface HostsOptions {
  /** Number of hosts, named a, b, c, ...; or give `names`. */
  n?: number;
  /** Host names (lower-case letters and digits, at most 10: they name interfaces). */
  names?: string[];
  /** Link rate of every host's cable (tbf both ways), e.g. '1gbit', '20mbit', or bits per second; default unlimited. */
  rate?: string | number | null;
}

export interface LinkCounters {
  /** Bytes the host sent on eth0. */
  txBytes: number;
  /** Bytes the host received on eth0. */
  rxBytes: number;
}

export interface ShaperCounters {
  /** Bytes tbf let through. */
  bytes: number;
  packets: number;
  /** Packets dropped because the queue was full (tbf's latency bound). */
  drops: number;
  /** Times a packet had to wait for tokens: the shaper at work. */
  overlimits: number;
}

export interface Host {
  /** Its name in this net (a, b, ...). */
  readonly name: string;
  /** Its network namespace (`ip netns exec <netns> ...`). */
  readonly netns: string;
  /** Its IPv4 address on eth0. */
  readonly address: string;
  /** Starts `command args` inside the host as a child process; killed by teardown(). */
  spawn(command: string, args: readonly string[], env?: Record<string, string>): LineProcess;
  /** Starts `node cli/fleet.js args` (the compiled CLI) inside the host. */
  fleet(args: readonly string[], env?: Record<string, string>): LineProcess;
  /** Runs `command args` inside the host to completion. */
  exec(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
  /** The rate set last (bits per second), null: unlimited. */
  readonly rate: number | null;
  /** Rate of the host's cable, both directions (tbf on eth0 and on its bridge port); null: unlimited. */
  setRate(rate: string | number | null): Promise<void>;
  /** The cable pulled at the switch: the host keeps its address and routes, nothing gets through. */
  down(): Promise<void>;
  /** The cable back in; resolves once the host's eth0 has carrier again. */
  up(): Promise<void>;
  counters(): Promise<LinkCounters>;
  /** tbf's counters: `upload` what the host sent, `download` what it received; null when no rate is set. */
  shaper(): Promise<{ upload: ShaperCounters; download: ShaperCounters } | null>;
}

export interface HostNet {
  readonly hosts: Host[];
  /** The bridge's namespace. */
  readonly switchNetns: string;
  /** e.g. 10.77.3.0/24 */
  readonly subnet: string;
  /** Every process started in any host (the tests' view of what is running). */
  readonly processes: readonly LineProcess[];
  /** Kills every process started here and deletes the namespaces; safe to call twice. */
  teardown(): Promise<void>;
}

/** Checked once, at module load, by making and deleting a namespace with a veth pair and a tbf qdisc. */
export const hostsSupport: HostsSupport = probeSupport();

/** Nets not torn down yet: the 'exit' hook deletes them. */
const live = new Set<{ namespaces: string[]; processes: LineProcess[] }>();
process.once('exit', () => {
  for (const net of live) {
    for (const p of net.processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    removeNamespacesSync(net.namespaces);
  }
});

export async function makeHosts(options: HostsOptions): Promise<HostNet> {
  if (!hostsSupport.ok) throw new Error(`network namespaces unavailable: ${hostsSupport.reason}`);
  const names = options.names ?? Array.from({ length: options.n ?? 2 }, (_, i) => String.fromCharCode(97 + i));
  if (names.length === 0 || names.length > 200) throw new Error(`makeHosts: ${names.length} hosts (1 to 200)`);
  for (const name of names) {
    if (!/^[a-z][a-z0-9]{0,9}$/.test(name) || name === 'switch') {
      throw new Error(`makeHosts: host name ${JSON.stringify(name)} (lower-case letters and digits, at most 10, not "switch")`);
    }
  }
  if (new Set(names).size !== names.length) throw new Error(`makeHosts: host names repeat: ${names.join(', ')}`);
  removeLeftovers();

  const id = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const switchNetns = `${id}-switch`;
  const net24 = freeSubnet();
  const processes: LineProcess[] = [];
  const state = { namespaces: [switchNetns] as string[], processes };
  live.add(state);
  const hosts: Host[] = [];
  try {
    await ip(['netns', 'add', switchNetns]);
    await ip(['-n', switchNetns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', switchNetns, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', switchNetns, 'link', 'set', 'br0', 'up']);
    for (const [i, name] of names.entries()) {
      const netns = `${id}-${name}`;
      const port = `port-${name}`;
      const address = `${net24}.${10 + i}`;
      state.namespaces.push(netns);
      await ip(['netns', 'add', netns]);
      // Both ends are made inside their namespaces: no name is ever taken in the machine's own.
      await ip(['link', 'add', 'eth0', 'netns', netns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNetns]);
      await ip(['-n', switchNetns, 'link', 'set', port, 'master', 'br0', 'up']);
      await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      hosts.push(makeHost({ name, netns, address, switchNetns, port, processes }));
    }
    if (options.rate !== undefined && options.rate !== null) await Promise.all(hosts.map((h) => h.setRate(options.rate!)));
  } catch (err) {
    live.delete(state);
    removeNamespacesSync(state.namespaces);
    throw err;
  }

  let torn = false;
  return {
    hosts,
    switchNetns,
    subnet: `${net24}.0/24`,
    processes,
    async teardown() {
      if (torn) return;
      torn = true;
      for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await Promise.all(processes.map((p) => p.exited));
      removeNamespacesSync(state.namespaces);
      live.delete(state);
    },
  };
}

/** A rate for tc: '20mbit', '1gbit', '500kbit' or bits per second; checked here so a typo fails with its value. */
export function parseRate(rate: string | number): number {
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 8000) throw new Error(`link rate ${rate} bit/s: at least 8000`);
    return Math.round(rate);
  }
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(rate.trim());
  if (!m) throw new Error(`link rate ${JSON.stringify(rate)}: a number with bit, kbit, mbit or gbit (e.g. 20mbit)`);
  const unit = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2]!.toLowerCase() as 'bit' | 'kbit' | 'mbit' | 'gbit'];
  return parseRate(Number(m[1]) * unit);
}

/**
 * tbf's parameters for a rate: the bucket holds 10 ms of traffic (at least
 * 16 KiB: more than a 1500-byte packet and a few TSO segments, or tbf
 * stalls), so at most that much passes above the rate after an idle spell;
 * the queue holds a quarter second of traffic (at least 256 KiB), like a
 * switch port's buffer: TCP sees delay before it sees drops.
 */
export function tbfArgs(bitsPerSecond: number): string[] {
  const burst = tbfBurstBytes(bitsPerSecond);
  const limit = burst + Math.max(256 * 1024, Math.ceil(bitsPerSecond / 8 / 4));
  return ['tbf', 'rate', `${bitsPerSecond}bit`, 'burst', String(burst), 'limit', String(limit)];
}

/** The bytes tbf lets through at once after an idle spell (its bucket): what a lower bound on a transfer's time discounts. */
export function tbfBurstBytes(bitsPerSecond: number): number {
  return Math.max(16 * 1024, Math.ceil(bitsPerSecond / 8 / 100));
}

function makeHost(h: { name: string; netns: string; address: string; switchNetns: string; port: string; processes: LineProcess[] }): Host {
  const inHost = (command: string, args: readonly string[]) => ['netns', 'exec', h.netns, command, ...args];
  const spawnIn = (command: string, args: readonly string[], env: Record<string, string> = {}) => {
    const p = startLineProcess('ip', inHost(command, args), env);
    h.processes.push(p);
    return p;
  };
  const qdiscs = [
    { ns: h.netns, dev: 'eth0' }, // what the host sends
    { ns: h.switchNetns, dev: h.port }, // what the switch sends it
  ];
  let rate: number | null = null;
  return {
    name: h.name,
    netns: h.netns,
    address: h.address,
    get rate() {
      return rate;
    },
    spawn: spawnIn,
    fleet: (args, env) => spawnIn(process.execPath, [FLEET_BIN, ...args], env),
    exec: (command, args) => run('ip', inHost(command, args), { maxBuffer: 64 * 1024 * 1024 }),
    async setRate(to) {
      if (to === null) {
        for (const q of qdiscs) await tc(['-n', q.ns, 'qdisc', 'del', 'dev', q.dev, 'root']).catch(() => {}); // none set: fine
        rate = null;
        return;
      }
      const bits = parseRate(to);
      for (const q of qdiscs) await tc(['-n', q.ns, 'qdisc', 'replace', 'dev', q.dev, 'root', ...tbfArgs(bits)]);
      rate = bits;
    },
    async down() {
      await ip(['-n', h.switchNetns, 'link', 'set', h.port, 'down']);
    },
    async up() {
      await ip(['-n', h.switchNetns, 'link', 'set', h.port, 'up']);
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [link] = JSON.parse((await ip(['-n', h.netns, '-j', 'link', 'show', 'eth0'])).stdout) as { operstate: string }[];
        if (link?.operstate === 'UP') return;
        if (Date.now() > deadline) throw new Error(`host ${h.name}: eth0 still ${link?.operstate} 10 s after its cable came back`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async counters() {
      const [link] = JSON.parse((await ip(['-n', h.netns, '-j', '-s', 'link', 'show', 'eth0'])).stdout) as {
        stats64: { rx: { bytes: number }; tx: { bytes: number } };
      }[];
      return { txBytes: link!.stats64.tx.bytes, rxBytes: link!.stats64.rx.bytes };
    },
    async shaper() {
      const read = async (q: { ns: string; dev: string }) => {
        const list = JSON.parse((await tc(['-n', q.ns, '-j', '-s', 'qdisc', 'show', 'dev', q.dev])).stdout) as (ShaperCounters & {
          kind: string;
          root?: boolean;
        })[];
        const tbf = list.find((x) => x.kind === 'tbf' && x.root);
        return tbf ? { bytes: tbf.bytes, packets: tbf.packets, drops: tbf.drops, overlimits: tbf.overlimits } : null;
      };
      const [upload, download] = [await read(qdiscs[0]!), await read(qdiscs[1]!)];
      return upload && download ? { upload, download } : null;
    },
  };
}

function ip(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return command('ip', args);
}

function tc(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return command('tc', args);
}

async function command(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args);
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

function probeSupport(): HostsSupport {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces are Linux only (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root: making network namespaces needs CAP_SYS_ADMIN (CI runs as root)' };
  for (const cmd of ['ip', 'tc']) {
    const v = spawnSync(cmd, ['-V'], { encoding: 'utf8' });
    if (v.error) return { ok: false, reason: `no \`${cmd}\` command (apt-get install iproute2): ${v.error.message}` };
  }
  const ns = `${NETNS_PREFIX}${process.pid}-probe${randomBytes(2).toString('hex')}`;
  const steps = [
    ['ip', 'netns', 'add', ns],
    ['ip', '-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ['tc', '-n', ns, 'qdisc', 'add', 'dev', 'v0', 'root', ...tbfArgs(1e6)],
  ];
  try {
    for (const [cmd, ...args] of steps) {
      const r = spawnSync(cmd!, args, { encoding: 'utf8' });
      if (r.status !== 0)
        return { ok: false, reason: `\`${cmd} ${args.join(' ')}\` failed: ${(r.stderr || r.error?.message || '').trim()}` };
    }
    return { ok: true, reason: '' };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** 10.77.K: the first K whose /24 holds no address of this machine's own interfaces. */
function freeSubnet(): string {
  const own = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (let k = 0; k < 256; k++) if (!own.includes(` 10.77.${k}.`)) return `10.77.${k}`;
  return '10.77.0';
}

/** Namespaces left by processes that are gone (a killed test run), with whatever still runs in them. */
function removeLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  const stale: string[] = [];
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) stale.push(name);
  }
  removeNamespacesSync(stale);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what still runs in each namespace (the namespace would outlive its name otherwise), then deletes it. */
function removeNamespacesSync(namespaces: readonly string[]): void {
  for (const ns of namespaces) {
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}
