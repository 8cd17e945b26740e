import {
  DEFAULT_CHUNK_BYTES,
  TensorSetAssembler,
  TensorStreamProtocolError,
  chunkTensorSet,
  type AssemblerOptions,
  type ReceivedTensorSet,
  type TensorSet,
} from '../exchange/index.js';
import { FleetError } from '../runtime/errors.js';
import type { ContributionChunk, ContributionHeader, TensorChunk, TensorManifest } from '../../proto/gen/fleet/v1/coordinator.js';
import { StalledStreamError, TensorStreamClosedError, UploadDeadlineError } from './rpc-errors.js';
import { encodeTensorChunks } from './coordinator-service.js';

type Listener = (...args: unknown[]) => void;

/**
 * The writable side of a streaming call as grpc-js hands it out (a
 * ServerWritableStream for FetchParameters, a ClientWritableStream for
 * Contribute): an object-mode Writable, plus `cancelled` on the server.
 */
export interface MessageWriter<T> {
  write(message: T): boolean;
  end(): unknown;
  once(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  readonly destroyed?: boolean;
  readonly writableEnded?: boolean;
  readonly cancelled?: boolean;
}

export interface SendOptions {
  chunkBytes?: number;
  /** End the stream after the last chunk (default true). */
  end?: boolean;
  /** Stops the send between chunks, e.g. when the call's response has already failed. */
  signal?: AbortSignal;
}

/**
 * Limits of a receiver: a maximum size is required, so a peer cannot make it
 * allocate at will. `idleMs` (receiveContribution): a stream that delivers no
 * message this long is refused with StalledStreamError, so a hung sender
 * cannot hold the receiver's resources until its own deadline.
 */
export type ReceiveLimits = AssemblerOptions & { maxTotalBytes: number; idleMs?: number };

/** FetchParameters' server side: the manifest then data chunks, waiting for 'drain' whenever gRPC's buffer is full. */
export async function sendTensorSet(call: MessageWriter<TensorChunk>, set: TensorSet, options: SendOptions = {}): Promise<void> {
  await writeAll(call, chunkTensorSet(set, options.chunkBytes ?? DEFAULT_CHUNK_BYTES), set.buffer.byteLength, options);
}

/** FetchParameters' server side for messages encoded ahead of time (encodeTensorChunks): the same stream, no per-call copy. */
export async function sendTensorChunks(
  call: MessageWriter<TensorChunk>,
  messages: readonly TensorChunk[],
  totalBytes: number,
  options: SendOptions = {},
): Promise<void> {
  await writeAll(call, messages, totalBytes, options);
}

/**
 * A buffer a sender keeps from call to call: its messages are encoded into
 * it once (encodeTensorChunks) and grpc-js takes them as they are, instead of
 * a fresh 1 MiB buffer per message, whose garbage drives V8's major GCs.
 * Encode only after the previous call that used it has ended.
 */
export interface EncodingBuffer {
  buffer?: Buffer;
}

/**
 * Contribute's client side: the header carrying the manifest, then data
 * chunks, encoded into `options.encoding` (a fresh buffer without one).
 */
export async function sendContribution(
  call: MessageWriter<ContributionChunk>,
  header: Omit<ContributionHeader, 'manifest'>,
  set: TensorSet,
  options: SendOptions & { encoding?: EncodingBuffer } = {},
): Promise<void> {
  const chunks = chunkTensorSet(set, options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const first = chunks.next();
  const manifest = !first.done && first.value.part?.$case === 'manifest' ? first.value.part.value : null;
  if (!manifest) throw new TensorStreamProtocolError('a tensor set without a manifest');
  const encoding = options.encoding ?? {};
  const encoded = encodeTensorChunks(chunks, encoding.buffer);
  encoding.buffer = encoded.wire;
  const head: ContributionChunk = { part: { $case: 'header', value: { ...header, manifest } } };
  await writeAll(call, [head, ...(encoded.messages as ContributionChunk[])], set.buffer.byteLength, options);
}

async function writeAll<T extends { part?: { $case: string; value: unknown } | undefined }>(
  call: MessageWriter<T>,
  messages: Iterable<T>,
  totalBytes: number,
  options: SendOptions,
): Promise<void> {
  let sent = 0;
  for (const message of messages) {
    if (options.signal?.aborted || call.cancelled || call.destroyed || call.writableEnded) {
      throw new TensorStreamClosedError(sent, totalBytes, { cause: options.signal?.reason });
    }
    const full = !call.write(message);
    if (message.part?.$case === 'data') sent += (message.part.value as Uint8Array).byteLength;
    if (full) await drained(call, options.signal, () => new TensorStreamClosedError(sent, totalBytes, { cause: options.signal?.reason }));
  }
  if (options.end ?? true) call.end();
}

/** Resolves on 'drain'; rejects if the call is cancelled, closed or fails first (then 'drain' never comes). */
function drained(call: MessageWriter<unknown>, signal: AbortSignal | undefined, closed: () => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const events = ['close', 'error', 'cancelled'] as const;
    const cleanup = () => {
      call.removeListener('drain', onDrain);
      for (const e of events) call.removeListener(e, onClosed);
      signal?.removeEventListener('abort', onClosed);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClosed = () => {
      cleanup();
      reject(closed());
    };
    call.once('drain', onDrain);
    for (const e of events) call.once(e, onClosed);
    signal?.addEventListener('abort', onClosed, { once: true });
  });
}

/**
 * FetchParameters' client side: assembles the streamed set (decoded to
 * float32 when it travelled in 16 bits), checked against `limits.expected`
 * when given. A refused set cancels the call (when the stream can be
 * cancelled) so the server stops sending.
 */
export async function receiveTensorSet(
  stream: AsyncIterable<TensorChunk> & { cancel?(): void },
  limits: ReceiveLimits,
): Promise<ReceivedTensorSet> {
  const assembler = new TensorSetAssembler(limits);
  try {
    for await (const message of stream) assembler.push(message);
    return assembler.finish();
  } catch (err) {
    if (err instanceof FleetError) stream.cancel?.();
    throw err;
  }
}

/** Contribute's server side: the header (with the manifest) first, then data; resolves with both. */
export async function receiveContribution(
  stream: AsyncIterable<ContributionChunk>,
  limits: ReceiveLimits,
): Promise<{ header: ContributionHeader; set: ReceivedTensorSet }> {
  const assembler = new TensorSetAssembler(limits);
  const { header } = await readContribution(stream, limits.idleMs, () => assembler);
  return { header, set: assembler.finish() };
}

/** What takes a contribution's manifest and data chunks: a TensorSetAssembler, or a TensorSetSink. */
export interface ChunkReceiver {
  onManifest(manifest: TensorManifest): void;
  onData(chunk: Uint8Array): void;
}

/** Time limits of an upload: no message for `idleMs`; not all of it within `uploadMs` of its header being opened. */
export interface UploadLimits {
  idleMs?: number | undefined;
  /** A number, or one computed once the header is opened (from the expected size). */
  uploadMs?: number | (() => number) | undefined;
}

/**
 * Contribute's server side with the receiver chosen from the header (the
 * coordinator sums the data into a contribution staged with the header's
 * sample count); resolves once the stream ends, before any final check,
 * which is the receiver's (`finish`). `open` may wait (for the coordinator's
 * one contribution slot): the time limits do not run while it does; the
 * upload's starts once it resolves. `idleMs` (a number) as in ReceiveLimits.
 */
export async function readContribution<R extends ChunkReceiver>(
  stream: AsyncIterable<ContributionChunk>,
  limits: number | undefined | UploadLimits,
  open: (header: ContributionHeader) => R | Promise<R>,
): Promise<{ header: ContributionHeader; receiver: R }> {
  const { idleMs, uploadMs } = typeof limits === 'object' ? limits : { idleMs: limits, uploadMs: undefined };
  let header: ContributionHeader | null = null;
  let receiver: R | null = null;
  const deadline: Deadline = { at: null, uploadMs: 0 };
  const limited = idleMs === undefined && uploadMs === undefined ? stream : timeLimited(stream, idleMs, deadline);
  for await (const message of limited) {
    const part = message.part;
    if (part?.$case === 'header') {
      if (header) throw new TensorStreamProtocolError('a second header');
      if (!part.value.manifest) throw new TensorStreamProtocolError('a header without a manifest');
      header = part.value;
      receiver = await open(header);
      if (uploadMs !== undefined) {
        deadline.uploadMs = typeof uploadMs === 'function' ? uploadMs() : uploadMs;
        deadline.at = Date.now() + deadline.uploadMs;
      }
      receiver.onManifest(part.value.manifest);
    } else if (part?.$case === 'data') {
      if (!receiver) throw new TensorStreamProtocolError('data before the header');
      receiver.onData(part.value);
    } else {
      throw new TensorStreamProtocolError('a message with neither header nor data');
    }
  }
  if (!header || !receiver) throw new TensorStreamProtocolError('the stream ended without a header');
  return { header, receiver };
}

interface Deadline {
  at: number | null;
  uploadMs: number;
}

/**
 * The messages of `stream`, refused with StalledStreamError when none comes
 * for `idleMs`, and with UploadDeadlineError once `deadline.at` (set when the
 * header is opened) passes. The stalled read is left to settle when the call
 * ends (the refusal's status ends it); the source is released without
 * waiting, as a for-await over it would.
 */
async function* timeLimited<T>(stream: AsyncIterable<T>, idleMs: number | undefined, deadline: Deadline): AsyncGenerator<T> {
  const source = stream[Symbol.asyncIterator]();
  let received = 0;
  try {
    for (;;) {
      // Also between messages that keep coming: many tiny chunks must not outlast the deadline either.
      if (deadline.at !== null && Date.now() >= deadline.at) throw new UploadDeadlineError(deadline.uploadMs, received);
      const next = source.next();
      const left = deadline.at === null ? Number.POSITIVE_INFINITY : deadline.at - Date.now();
      const wait = Math.min(idleMs ?? Number.POSITIVE_INFINITY, left);
      let timer: NodeJS.Timeout | undefined;
      const timeout =
        wait === Number.POSITIVE_INFINITY
          ? null
          : new Promise<'timeout'>((resolve) => {
              timer = setTimeout(() => resolve('timeout'), Math.max(0, wait));
            });
      const result = await (timeout ? Promise.race([next, timeout]) : next).finally(() => clearTimeout(timer));
      if (result === 'timeout') {
        next.catch(() => {});
        // Which bound the wait had (a timer may fire a millisecond before Date.now() reaches the deadline).
        if (left <= (idleMs ?? Number.POSITIVE_INFINITY)) throw new UploadDeadlineError(deadline.uploadMs, received);
        throw new StalledStreamError(idleMs ?? 0, received);
      }
      if (result.done) return;
      received++;
      yield result.value;
    }
  } finally {
    // Not awaited: with a read pending, return() would wait for it.
    void Promise.resolve(source.return?.()).catch(() => {});
  }
}
