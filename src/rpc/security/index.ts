// gRPC transport security: TLS / mutual TLS from PEM files, and a shared
// bearer token checked on every call (the health service exempt). One
// GrpcSecurity, parsed from the flags in one place, configures both sides.
export { AUTHORIZATION_KEY, UNAUTHENTICATED_DETAILS, bearerMatches, bearerValue } from './bearer-token.js';
export { clientChannelFrom, insecureChannel, type ClientChannel } from './client-channel.js';
export { TOKEN_ROTATED_DETAILS, clientTokenInterceptor, type RotatingToken } from './client-token-interceptor.js';
export {
  CLIENT_ROTATION_GRACE_MS,
  DEFAULT_TOKEN_ROTATION_WINDOW_MS,
  TokenFileWatch,
  parseTokenFile,
  type TokenFileWatchOptions,
  type TokenRotation,
} from './token-file-watch.js';
export { TlsFileError } from './errors.js';
export { TokenRefusedError, explainTokenRefusal } from './token-refused.js';
export {
  INSECURE,
  describeGrpcSecurity,
  parseGrpcSecurity,
  type GrpcSecurity,
  type RawGrpcSecurity,
  type SecurityRole,
} from './grpc-security.js';
export {
  HEALTH_SERVICE_PREFIX,
  serverTokenInterceptor,
  type AcceptedTokens,
  type RefusedCall,
  type ServerTokenOptions,
} from './server-token-interceptor.js';
export { channelCredentialsFrom, checkTlsPairing, serverCredentialsFrom } from './tls-credentials.js';
export { TLS_FLAGS, readTlsFiles, type TlsFiles, type TlsPem } from './tls-files.js';
