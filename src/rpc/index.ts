// fleet's gRPC plumbing: the generated fleet.v1 code lives in proto/gen/ (built by
// `npm run gen`, not committed); this folder adds what every service needs
// around it.
export { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES, MAX_MESSAGE_BYTES } from './channel-options.js';
export { FleetCoordinatorClient, FleetCoordinatorService, encodeTensorChunks } from './coordinator-service.js';
export { routeGrpcLogs } from './grpc-logging.js';
export { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from './grpc-server.js';
export { classify, isUnavailable, type CallFailure } from './classify.js';
export { CoordinatorRefusal } from './coordinator-refusals.js';
export { ERROR_CLASS_KEY, ERROR_TENSOR_KEY, TRANSPORT_STATUS, toGrpcStatus, toServiceError, type StatusRule } from './grpc-status.js';
export { StalledStreamError, TensorStreamClosedError, UploadDeadlineError } from './rpc-errors.js';
export {
  readContribution,
  receiveContribution,
  receiveTensorSet,
  sendContribution,
  sendTensorChunks,
  sendTensorSet,
} from './tensor-stream.js';
export type { ChunkReceiver, EncodingBuffer } from './tensor-stream.js';
export type { MessageWriter, ReceiveLimits, SendOptions } from './tensor-stream.js';
export type { BindOptions, ServerSecurityOptions } from './grpc-server.js';
export * from './security/index.js';
