import { status as Status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  MissingTensorError,
  NonFiniteTensorError,
  OversizedTensorSetError,
  TensorChecksumError,
  TensorShapeError,
  TensorStreamProtocolError,
} from '../../../src/exchange/index.js';
import {
  ERROR_CLASS_KEY,
  ERROR_TENSOR_KEY,
  StalledStreamError,
  TensorStreamClosedError,
  toGrpcStatus,
  toServiceError,
} from '../../../src/rpc/index.js';
import { WeightedSumError } from '../../../services/coordinator/aggregator/weighted-sum.js';
import {
  AlreadyContributedError,
  CoordinatorClosedError,
  NotAMemberError,
  StaleContributionError,
  UnknownWorkerError,
  VersionUnavailableError,
} from '../../../services/coordinator/rounds/errors.js';
import { COORDINATOR_STATUS } from '../../../services/coordinator/rpc/coordinator-status.js';

const transport: [string, unknown, Status][] = [
  ['bad shape', new TensorShapeError('a/kernel', [3, 5], [5, 3]), Status.INVALID_ARGUMENT],
  ['missing tensor', new MissingTensorError('a/kernel'), Status.INVALID_ARGUMENT],
  ['NaN', new NonFiniteTensorError('c/bias', 3, Number.NaN), Status.INVALID_ARGUMENT],
  ['CRC', new TensorChecksumError(1, 2), Status.INVALID_ARGUMENT],
  ['protocol', new TensorStreamProtocolError('data before the header'), Status.INVALID_ARGUMENT],
  ['oversized', new OversizedTensorSetError(2 ** 31, 2 ** 30), Status.RESOURCE_EXHAUSTED],
  ['peer gone', new TensorStreamClosedError(10, 20), Status.CANCELLED],
  ['peer hung mid-upload', new StalledStreamError(2000, 3), Status.DEADLINE_EXCEEDED],
  ['a bug', new TypeError('x is undefined'), Status.INTERNAL],
  ['not an error', 'string', Status.INTERNAL],
];

describe('toGrpcStatus', () => {
  it.each(transport)('transport: %s -> %s', (_label, err, code) => {
    expect(Status[toGrpcStatus(err)]).toBe(Status[code]);
  });

  it.each([
    ['unknown worker', new UnknownWorkerError('w3'), Status.NOT_FOUND],
    ['stale version', new StaleContributionError('w1', 4, 5, 'started from version 3'), Status.FAILED_PRECONDITION],
    ['not a member', new NotAMemberError('w1', 4, 'not a member of this round'), Status.FAILED_PRECONDITION],
    ['a second copy', new AlreadyContributedError('w1', 4), Status.FAILED_PRECONDITION],
    ['version gone', new VersionUnavailableError(2, 9), Status.FAILED_PRECONDITION],
    ['a sum that cannot take it', new WeightedSumError('contribution has 4 values, the model has 3', 3, 4), Status.INVALID_ARGUMENT],
    ['shutting down', new CoordinatorClosedError('bye'), Status.UNAVAILABLE],
    ...transport,
  ] as [string, unknown, Status][])('coordinator: %s -> %s', (_label, err, code) => {
    expect(Status[toGrpcStatus(err, COORDINATOR_STATUS)]).toBe(Status[code]);
  });

  it("leaves a service's errors INTERNAL under the transport rules alone", () => {
    expect(toGrpcStatus(new UnknownWorkerError('w3'))).toBe(Status.INTERNAL);
  });

  it('carries the message, the error class and the tensor in the status', () => {
    const s = toServiceError(new TensorShapeError('a/kernel', [3, 5], [5, 3]));
    expect(s.code).toBe(Status.INVALID_ARGUMENT);
    expect(s.details).toMatch(/shape \[5,3\], expected \[3,5\] \(tensor a\/kernel\)/);
    expect(s.metadata.get(ERROR_CLASS_KEY)).toEqual(['TensorShapeError']);
    expect(s.metadata.get(ERROR_TENSOR_KEY)).toEqual(['a/kernel']);
  });
});
