import { ChannelCredentials, type ClientOptions } from '@grpc/grpc-js';
import { clientTokenInterceptor } from './client-token-interceptor.js';
import type { GrpcSecurity } from './grpc-security.js';
import { channelCredentialsFrom } from './tls-credentials.js';
import { TokenFileWatch } from './token-file-watch.js';

/** What a client constructor takes besides the address: its credentials and the security part of its options. */
export interface ClientChannel {
  credentials: ChannelCredentials;
  options: Partial<ClientOptions>;
}

/** Plaintext, no token: what benchmarks and in-process tests use. */
export function insecureChannel(): ClientChannel {
  return { credentials: ChannelCredentials.createInsecure(), options: {} };
}

/**
 * A client's credentials (TLS, a client certificate) and options (the token
 * interceptor, and the name to check the server's certificate for when it is
 * not the dialled host) from one GrpcSecurity. Async: it reads the TLS files.
 */
export async function clientChannelFrom(security: GrpcSecurity): Promise<ClientChannel> {
  const options: Partial<ClientOptions> = {};
  if (security.token !== null) {
    // From a file: followed as it changes (a rotation), and re-read when a call is refused for it.
    const token = security.tokenFile !== undefined ? new TokenFileWatch(security.tokenFile, security.token) : security.token;
    options.interceptors = [clientTokenInterceptor(token)];
  }
  if (security.serverName !== undefined && security.tls !== null) options['grpc.ssl_target_name_override'] = security.serverName;
  return { credentials: await channelCredentialsFrom(security.tls), options };
}
