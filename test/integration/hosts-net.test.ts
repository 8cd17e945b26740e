/**
 * The multi-host test bed itself (test/helpers/net-hosts.ts), without fleet:
 * hosts reach each other over the bridge and nothing else, a pulled cable
 * cuts one host off, tbf holds a host to its rate both ways, and teardown
 * (or a later run, for a killed one) leaves no namespace or process behind.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { NETNS_PREFIX, hostsSupport, makeHosts, tbfBurstBytes, type Host, type HostNet } from '../helpers/net-hosts.js';

if (!hostsSupport.ok) console.warn(`hosts-net: skipped: ${hostsSupport.reason}`);

const nets: HostNet[] = [];
afterAll(async () => {
  for (const n of nets) await n.teardown();
});

const PORT = 9000;

/** A TCP server in `host` that counts what each connection sends and answers with the count. */
async function sink(host: Host) {
  const p = host.spawn(process.execPath, [
    '-e',
    `require('node:net').createServer((s) => { let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => s.end(String(n))); })
       .listen(${PORT}, '${host.address}', () => console.log('listening'));`,
  ]);
  await p.waitFor(/listening/, 10_000);
  return p;
}

/** Sends `bytes` from `from` to the sink at `to`; resolves with what the sink counted and the time it took, or the error. */
async function send(
  from: Host,
  to: Host,
  bytes: number,
  timeoutMs = 2000,
): Promise<{ ok: true; received: number; ms: number } | { ok: false; error: string }> {
  const { stdout } = await from.exec(process.execPath, [
    '-e',
    `const t = performance.now();
     const s = require('node:net').connect(${PORT}, '${to.address}');
     const timer = setTimeout(() => { console.log(JSON.stringify({ ok: false, error: 'timeout' })); process.exit(0); }, ${timeoutMs});
     let answer = '';
     s.on('connect', () => s.end(Buffer.alloc(${bytes})));
     s.on('data', (d) => { answer += d; });
     s.on('end', () => { clearTimeout(timer); console.log(JSON.stringify({ ok: true, received: Number(answer), ms: performance.now() - t })); });
     s.on('error', (e) => { clearTimeout(timer); console.log(JSON.stringify({ ok: false, error: e.code })); });`,
  ]);
  return JSON.parse(stdout);
}

/** Gone, or a zombie waiting to be reaped by whoever adopted it. */
function killed(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
  } catch {
    return true;
  }
}

const namespaces = () => (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0]!);

describe.skipIf(!hostsSupport.ok)('the multi-host test bed (network namespaces, veth, a bridge, tbf)', () => {
  it('hosts reach each other by address over the bridge, and only there; a pulled cable cuts one host off until it is back', async () => {
    const net = await makeHosts({ n: 3 });
    nets.push(net);
    const [a, b, c] = net.hosts as [Host, Host, Host];
    expect(net.subnet).toMatch(/^10\.77\.\d+\.0\/24$/);
    expect(new Set(net.hosts.map((h) => h.address)).size).toBe(3);
    await sink(a);

    expect(await send(b, a, 1000)).toMatchObject({ ok: true, received: 1000 });
    expect(await send(c, a, 1000)).toMatchObject({ ok: true, received: 1000 });
    // A host has its loopback and its cable, and one route: the bridge's /24 (no way out to the machine's network).
    for (const h of net.hosts) {
      const links = JSON.parse((await h.exec('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[];
      expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
      const routes = JSON.parse((await h.exec('ip', ['-j', '-4', 'route', 'show'])).stdout) as { dst: string; dev: string }[];
      expect(routes.map((r) => `${r.dst} ${r.dev}`)).toEqual([`${net.subnet} eth0`]);
    }

    await b.down();
    expect(await send(b, a, 1000, 1000)).toMatchObject({ ok: false });
    expect(await send(c, a, 1000)).toMatchObject({ ok: true, received: 1000 });
    await b.up();
    expect(await send(b, a, 1000, 5000)).toMatchObject({ ok: true, received: 1000 });
  });

  it("tbf holds a host's cable to its rate both ways: a transfer takes at least its bytes at the rate, and the counters show the bytes", async () => {
    const net = await makeHosts({ names: ['srv', 'cli'], rate: '1gbit' });
    nets.push(net);
    const [srv, cli] = net.hosts as [Host, Host];
    await sink(srv);
    const bytes = 1_000_000;
    const fast = await send(cli, srv, bytes);
    expect(fast).toMatchObject({ ok: true, received: bytes });

    const rate = 8e6; // 1 MB/s
    await srv.setRate('8mbit');
    expect(srv.rate).toBe(rate);
    const before = await srv.counters();
    // Into srv (its bridge port's tbf), then out of it (its eth0's): both directions are held.
    const inbound = await send(cli, srv, bytes, 10_000);
    const outbound = await (async () => {
      await sink(cli);
      return send(srv, cli, bytes, 10_000);
    })();
    const after = await srv.counters();
    const boundMs = ((bytes - tbfBurstBytes(rate)) * 8 * 1000) / rate;
    for (const [what, r] of [
      ['into srv', inbound],
      ['out of srv', outbound],
    ] as const) {
      expect(r, what).toMatchObject({ ok: true, received: bytes });
      expect((r as { ms: number }).ms, what).toBeGreaterThanOrEqual(0.9 * boundMs);
    }
    expect((fast as { ms: number }).ms).toBeLessThan(boundMs / 2);
    expect(after.rxBytes - before.rxBytes).toBeGreaterThan(bytes);
    expect(after.txBytes - before.txBytes).toBeGreaterThan(bytes);
    const shaped = await srv.shaper();
    expect(shaped!.download.bytes).toBeGreaterThan(bytes);
    expect(shaped!.upload.bytes).toBeGreaterThan(bytes);
    expect(shaped!.download.overlimits).toBeGreaterThan(0);
    expect(shaped!.upload.overlimits).toBeGreaterThan(0);

    await srv.setRate(null);
    expect(await srv.shaper()).toBeNull();
    expect(srv.rate).toBeNull();
  });

  it('teardown kills what runs in the hosts and deletes every namespace; a later makeHosts deletes those of a process that is gone', async () => {
    const net = await makeHosts({ n: 2 });
    const server = await sink(net.hosts[0]!);
    const ours = [net.switchNetns, ...net.hosts.map((h) => h.netns)];
    expect(namespaces()).toEqual(expect.arrayContaining(ours));
    await net.teardown();
    expect(server.child.signalCode).toBe('SIGKILL');
    expect(namespaces().filter((n) => ours.includes(n))).toEqual([]);

    // A namespace of a run killed before its hooks ran: named for a pid that no longer exists, a process still in it.
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = `${NETNS_PREFIX}${gone}-dead00-a`;
    expect(spawnSync('ip', ['netns', 'add', stale]).status).toBe(0);
    const straggler = spawnSync('ip', ['netns', 'exec', stale, 'sh', '-c', 'sleep 600 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const stragglerPid = Number(straggler.stdout.trim());
    const next = await makeHosts({ n: 1 });
    nets.push(next);
    expect(namespaces()).not.toContain(stale);
    expect(killed(stragglerPid)).toBe(true);
  });
});
