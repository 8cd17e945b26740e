/**
 * The heartbeat thread's body (a worker_threads entry): its own gRPC channel to
 * the coordinator and its own event loop, so a training step that holds the
 * main thread for minutes does not silence the worker. The main thread posts
 * which worker id and round to report; nothing else crosses.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../../../src/rpc/channel-options.js';
import { FleetCoordinatorClient } from '../../../src/rpc/coordinator-service.js';
import { clientChannelFrom } from '../../../src/rpc/security/index.js';
import type { HeartbeatThreadData, HeartbeatUpdate } from './heartbeat-thread.js';

const data = workerData as HeartbeatThreadData;
const channel = await clientChannelFrom(data.security);
const client = new FleetCoordinatorClient(data.coordinator, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
let state: HeartbeatUpdate = { workerId: data.workerId, round: 0 };
let inFlight = false;

const beat = () => {
  // One call at a time: a coordinator that does not answer gets no pile of calls, just the next beat.
  if (inFlight || state.workerId === null) return;
  inFlight = true;
  client.heartbeat(
    { workerId: state.workerId, round: state.round, stepsDone: 0 },
    new Metadata(),
    { deadline: new Date(Date.now() + data.callTimeoutMs) },
    (err: ServiceError | null) => {
      inFlight = false;
      if (err) parentPort?.postMessage({ failed: err.message });
    },
  );
};
const timer = setInterval(beat, data.intervalMs);
beat();

/**
 * The Attend stream, held open for the member's id: when this process dies its
 * connection closes and the coordinator evicts the member at once. Reopened
 * after a second when it ends (a coordinator restart), and for each new id.
 */
let attending: { workerId: string; call: ClientReadableStream<unknown> } | null = null;
let reopen: NodeJS.Timeout | null = null;
const attend = () => {
  const id = state.workerId;
  if (attending && attending.workerId === id) return;
  attending?.call.cancel();
  attending = null;
  if (id === null) return;
  const call = client.attend({ workerId: id }, new Metadata());
  const current = { workerId: id, call };
  attending = current;
  call.on('data', () => {});
  const ended = () => {
    if (attending !== current) return; // replaced or cancelled on purpose
    attending = null;
    if (reopen) clearTimeout(reopen);
    reopen = setTimeout(attend, 1000);
  };
  call.on('error', ended);
  call.on('end', ended);
};
attend();

parentPort?.on('message', (m: HeartbeatUpdate | 'stop') => {
  if (m === 'stop') {
    clearInterval(timer);
    if (reopen) clearTimeout(reopen);
    const stopping = attending;
    attending = null;
    stopping?.call.cancel();
    client.close();
    parentPort?.close();
    return;
  }
  state = m;
  attend();
});
