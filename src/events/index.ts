/** The events bus: what services publish and read about a run (see event-bus.ts). */
export * from './event-payloads.js';
export {
  STREAM_NAME,
  ALL_SUBJECTS,
  DUPLICATE_WINDOW_MS,
  InvalidRunIdError,
  isRunId,
  assertRunId,
  isEventType,
  subjectOf,
  runSubjects,
  typeOfSubject,
  livenessSubject,
  LIVENESS_BEAT_INTERVAL_MS,
} from './event-subjects.js';
export { MalformedEventError, encodeEvent, decodeEvent, validatePayload, type AnyFleetEvent } from './event-codec.js';
export { InvalidSourceError } from './event-stamper.js';
export {
  BusClosedError,
  FlushTimeoutError,
  EventTooLargeError,
  DurableInUseError,
  InvalidDurableNameError,
  DEFAULT_FLUSH_TIMEOUT_MS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  type EventBus,
  type EventPublisher,
  type PublishOptions,
  type Subscription,
  type ConsumeHandler,
  type FollowHandler,
  type FollowOptions,
} from './event-bus.js';
export { connectNatsBus, type NatsBusOptions } from './nats-bus.js';
export { NatsUnavailableError } from './nats-connection.js';
export { createMemoryBus, type MemoryBusOptions } from './memory-bus.js';
export { openEventBus } from './open-bus.js';
export { connectNatsReader, type NatsReaderOptions } from './nats-reader.js';
export type { EventReader } from './event-reader.js';
