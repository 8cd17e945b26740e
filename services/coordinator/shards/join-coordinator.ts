import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { AggregatorJoinClient } from '../../../proto/gen/fleet/v1/aggregator.js';
import { isUnavailable } from '../../../src/rpc/classify.js';
import { clientChannelFrom, type GrpcSecurity } from '../../../src/rpc/security/index.js';
import type { Logger } from '../../../src/runtime/logger.js';
import { retryWithBackoff } from '../../../src/runtime/retry.js';

/**
 * `fleet aggregator --coordinator`: tells the coordinator where this
 * aggregator listens (`address`), retrying while the coordinator is not up
 * yet, up to `timeoutMs`. The call carries the aggregator's token (the
 * coordinator refuses a call without its own); plaintext, as the
 * coordinator's calls to its aggregators. Resolves with the shard given.
 */
export async function joinCoordinator(
  coordinator: string,
  address: string,
  security: GrpcSecurity,
  timeoutMs: number,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  const channel = await clientChannelFrom({ ...security, tls: null });
  const client = new AggregatorJoinClient(coordinator, channel.credentials, channel.options);
  try {
    return await retryWithBackoff(
      { what: 'join the coordinator', target: coordinator, timeoutMs, retriable: isUnavailable, log, signal },
      () =>
        new Promise<number>((resolve, reject) =>
          client.join({ address }, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (err: ServiceError | null, res) =>
            err ? reject(err) : resolve(res.shard),
          ),
        ),
    );
  } finally {
    client.close();
  }
}
