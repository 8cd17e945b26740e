/**
 * One raw TCP stream between two hosts of the multi-host test bed
 * (test/helpers/net-hosts.ts), with no gRPC and no checks: what this
 * machine pushes through the bridge and a host's tbf, the yardstick for
 * scale-null's rows (bench/scale-null.ts). This file is also the two
 * processes it starts, by its first argument:
 *
 *   node dist/bench/tcp-probe.js tcp-sink HOST BYTES        listens on HOST, prints its port, then the ms BYTES took
 *   node dist/bench/tcp-probe.js tcp-source HOST PORT BYTES
 */
import { connect, createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Host } from '../test/helpers/net-hosts.js';

const SELF = fileURLToPath(import.meta.url);

/** `tcp-sink HOST BYTES`: listens on HOST (port logged), takes one connection's BYTES, prints the ms from first to last byte. */
async function tcpSink(host: string, bytes: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  console.log(`tcp-sink-port ${(server.address() as AddressInfo).port}`);
  const ms = await new Promise<number>((resolve) => {
    server.once('connection', (socket) => {
      let got = 0;
      let first = 0;
      socket.on('data', (d: Buffer) => {
        if (got === 0) first = performance.now();
        got += d.length;
        if (got >= bytes) {
          resolve(performance.now() - first);
          socket.destroy();
        }
      });
    });
  });
  server.close();
  console.log(`tcp-sink-ms ${ms}`);
}

/** `tcp-source HOST PORT BYTES`: sends BYTES to HOST:PORT in 1 MiB writes. */
async function tcpSource(host: string, port: number, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(1 << 20, 7);
  const socket = connect(port, host);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise((resolve) => socket.once('close', resolve));
}

/**
 * One raw TCP stream of `bytes` from a worker host to the coordinator's
 * host (by default two seconds' worth at the cable's rate, at least 250 MB:
 * less is mostly TCP's slow start): what this machine pushes through the
 * bridge and tbf with no gRPC, in bit/s.
 */
export async function rawTcpThroughCable(coord: Host, from: Host, bytes: number): Promise<number> {
  const sink = coord.spawn(process.execPath, [SELF, 'tcp-sink', coord.address, String(bytes)]);
  const port = Number((await sink.waitFor(/^tcp-sink-port /, 60_000)).split(' ')[1]);
  from.spawn(process.execPath, [SELF, 'tcp-source', coord.address, String(port), String(bytes)]);
  const ms = Number((await sink.waitFor(/^tcp-sink-ms /, 600_000)).split(' ')[1]);
  return (bytes * 8) / (ms / 1000);
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === 'tcp-sink') await tcpSink(a!, Number(b));
else if (mode === 'tcp-source') await tcpSource(a!, Number(b), Number(c));
