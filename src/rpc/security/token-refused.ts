import { status as Status } from '@grpc/grpc-js';
import { FleetError } from '../../runtime/errors.js';
import { classify } from '../classify.js';

/**
 * A client's calls were refused for their token: a configuration error no
 * retry fixes, said in words instead of a gRPC stack (the CLI prints it, exit 1).
 */
export class TokenRefusedError extends FleetError {
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the coordinator at ${address} refused the token (UNAUTHENTICATED: missing or wrong): give its token with --token-file, FLEET_TOKEN or --token`,
      options,
    );
  }
}

/** `err` as a TokenRefusedError when it is an UNAUTHENTICATED status, else unchanged. */
export function explainTokenRefusal(err: unknown, address: string): unknown {
  return classify(err)?.code === Status.UNAUTHENTICATED ? new TokenRefusedError(address, { cause: err }) : err;
}
