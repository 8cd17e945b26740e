import { InterceptingCall, status as Status, type Interceptor } from '@grpc/grpc-js';
import { AUTHORIZATION_KEY, bearerValue } from './bearer-token.js';
import { CLIENT_ROTATION_GRACE_MS } from './token-file-watch.js';

/** What a client reads its token from when it can rotate: the current token, and a re-read of its file. */
export interface RotatingToken {
  readonly current: string;
  /** Reads the file now; true when it held new tokens. */
  reload(): boolean;
  /** Whether the file changed within `ms` (the server may not have read its own copy yet). */
  changedWithin(ms: number): boolean;
}

/** What a call refused during a rotation ends with: UNAVAILABLE, which callers retry. */
export const TOKEN_ROTATED_DETAILS = 'token refused while the token file is being rotated: retry';

/**
 * Adds `authorization: Bearer <token>` to every call of a client. An
 * interceptor rather than call credentials: grpc-js sends call credentials
 * over TLS only, and a token must also work on a plaintext channel (a
 * private network, or TLS ended by a proxy). With a rotating token, a call
 * refused UNAUTHENTICATED re-reads the token file; when the token it sent is
 * no longer the file's, or the file changed within CLIENT_ROTATION_GRACE_MS
 * (the server's copy may lag), the refusal becomes UNAVAILABLE, which the
 * callers' retries already handle, and the retry carries the current token.
 */
export function clientTokenInterceptor(token: string | RotatingToken): Interceptor {
  const fixed = typeof token === 'string' ? bearerValue(token) : null;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (fixed !== null) {
          metadata.set(AUTHORIZATION_KEY, fixed);
          next(metadata, listener);
          return;
        }
        const rotating = token as RotatingToken;
        const sent = rotating.current;
        metadata.set(AUTHORIZATION_KEY, bearerValue(sent));
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            if (status.code !== Status.UNAUTHENTICATED) {
              nextStatus(status);
              return;
            }
            const changed = rotating.reload() || rotating.current !== sent;
            if (changed || rotating.changedWithin(CLIENT_ROTATION_GRACE_MS))
              nextStatus({ ...status, code: Status.UNAVAILABLE, details: TOKEN_ROTATED_DETAILS });
            else nextStatus(status);
          },
        });
      },
    });
}
