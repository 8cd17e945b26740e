import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, bearerValue } from './bearer-token.js';

/**
 * Adds `authorization: Bearer <token>` to every call of a client. An
 * interceptor rather than call credentials: grpc-js sends call credentials
 * over TLS only, and a token must also work on a plaintext channel (a
 * private network, or TLS ended by a proxy).
 */
export function clientTokenInterceptor(token: string): Interceptor {
  const value = bearerValue(token);
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set(AUTHORIZATION_KEY, value);
        next(metadata, listener);
      },
    });
}
