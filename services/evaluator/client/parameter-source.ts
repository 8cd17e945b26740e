import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { entriesOf } from '../../../src/exchange/tensor-wire.js';
import { tensorSetValues } from '../../../src/exchange/index.js';
import { CHANNEL_OPTIONS } from '../../../src/rpc/channel-options.js';
import { FleetCoordinatorClient } from '../../../src/rpc/coordinator-service.js';
import type { DescribeRunResponse } from '../../../proto/gen/fleet/v1/coordinator.js';
import { insecureChannel, type ClientChannel } from '../../../src/rpc/security/index.js';
import { receiveTensorSet } from '../../../src/rpc/tensor-stream.js';
import type { WeightSlice } from '../../../src/training/flat-weights.js';

/** The evaluator's reads from the coordinator: the run, and parameters by version. Every call has a deadline. */
export interface ParameterSource {
  describe(): Promise<DescribeRunResponse>;
  /** The parameters of `version`, checked (manifest against the model, CRC-32C, finite values). */
  fetch(version: number, layout: readonly WeightSlice[]): Promise<Float32Array>;
  close(): void;
}

/** `o.channel`: credentials and token (clientChannelFrom); default plaintext without a token. */
export function createParameterSource(
  address: string,
  o: { callTimeoutMs: number; transferTimeoutMs: number; channel?: ClientChannel },
): ParameterSource {
  const channel = o.channel ?? insecureChannel();
  const client = new FleetCoordinatorClient(address, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
  const deadline = (ms: number) => new Date(Date.now() + ms);
  return {
    describe() {
      return new Promise((resolve, reject) => {
        client.describeRun(
          {},
          new Metadata(),
          { deadline: deadline(o.callTimeoutMs) },
          (err: ServiceError | null, res: DescribeRunResponse) => (err ? reject(err) : resolve(res)),
        );
      });
    },
    async fetch(version, layout) {
      const bytes = layout.reduce((n, s) => n + s.length * 4, 0);
      const stream = client.fetchParameters({ workerId: 'evaluator', version, tensors: [] }, { deadline: deadline(o.transferTimeoutMs) });
      const set = await receiveTensorSet(stream, { maxTotalBytes: bytes, expected: entriesOf(layout) });
      return tensorSetValues(set);
    },
    close() {
      client.close();
    },
  };
}
