import { status as Status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  MissingTensorError, NonFiniteTensorError, OversizedTensorSetError, TensorChecksumError, TensorShapeError, TensorStreamProtocolError,
} from '../../../src/exchange/index.js';
import { ERROR_CLASS_KEY, ERROR_TENSOR_KEY, InvalidTokenError, RoundClosedError, StalledStreamError, TensorStreamClosedError, toGrpcStatus, toServiceError } from '../../../src/rpc/index.js';
import {
  CoordinatorClosedError, NotAMemberError, StaleContributionError, UnknownWorkerError, VersionUnavailableError,
} from '../../../services/coordinator/rounds/errors.js';

describe('toGrpcStatus', () => {
  it.each([
    ['unknown worker', new UnknownWorkerError('w3'), Status.NOT_FOUND],
    ['stale version', new StaleContributionError('w1', 4, 5, 'started from version 3'), Status.FAILED_PRECONDITION],
    ['not a member', new NotAMemberError('w1', 4, 'already contributed'), Status.FAILED_PRECONDITION],
    ['version gone', new VersionUnavailableError(2, 9), Status.FAILED_PRECONDITION],
    ['bad shape', new TensorShapeError('a/kernel', [3, 5], [5, 3]), Status.INVALID_ARGUMENT],
    ['missing tensor', new MissingTensorError('a/kernel'), Status.INVALID_ARGUMENT],
    ['NaN', new NonFiniteTensorError('c/bias', 3, Number.NaN), Status.INVALID_ARGUMENT],
    ['CRC', new TensorChecksumError(1, 2), Status.INVALID_ARGUMENT],
    ['protocol', new TensorStreamProtocolError('data before the header'), Status.INVALID_ARGUMENT],
    ['oversized', new OversizedTensorSetError(2 ** 31, 2 ** 30), Status.RESOURCE_EXHAUSTED],
    ['closed round', new RoundClosedError(7, 'w2'), Status.ABORTED],
    ['bad token', new InvalidTokenError('invalid', 'w2'), Status.UNAUTHENTICATED],
    ['peer gone', new TensorStreamClosedError(10, 20), Status.CANCELLED],
    ['peer hung mid-upload', new StalledStreamError(2000, 3), Status.DEADLINE_EXCEEDED],
    ['shutting down', new CoordinatorClosedError('bye'), Status.UNAVAILABLE],
    ['a bug', new TypeError('x is undefined'), Status.INTERNAL],
    ['not an error', 'string', Status.INTERNAL],
  ])('%s -> %s', (_label, err, code) => {
    expect(Status[toGrpcStatus(err)]).toBe(Status[code]);
  });

  it('carries the message, the error class and the tensor in the status', () => {
    const s = toServiceError(new TensorShapeError('a/kernel', [3, 5], [5, 3]));
    expect(s.code).toBe(Status.INVALID_ARGUMENT);
    expect(s.details).toMatch(/shape \[5,3\], expected \[3,5\] \(tensor a\/kernel\)/);
    expect(s.metadata.get(ERROR_CLASS_KEY)).toEqual(['TensorShapeError']);
    expect(s.metadata.get(ERROR_TENSOR_KEY)).toEqual(['a/kernel']);
  });
});
