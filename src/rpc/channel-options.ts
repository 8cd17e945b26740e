import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * HTTP/2's default 64 KiB receive window stalls 45 MB transfers on
 * WINDOW_UPDATE round trips; a large window lets a tensor set stream.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 4 * 1024 * 1024;

/** Messages are 1 MiB chunks or small requests: 8 MiB leaves room without inviting whole-model messages. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/**
 * Size and flow-control options both sides use. No HTTP/2 keepalive pings:
 * a worker's event loop is busy for a whole training step (seconds to
 * minutes on WASM) and cannot answer a ping in time, and a missed ping
 * closes the connection; liveness is the heartbeat's job (the coordinator's
 * --heartbeat-timeout), and a dead peer's TCP connection fails on the next call.
 */
export const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
} as const satisfies ChannelOptions;
