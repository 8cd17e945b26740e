import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TensorShapeError } from '../../../src/exchange/index.js';
import { CoordinatorRefusal, classify, isUnavailable, toServiceError } from '../../../src/rpc/index.js';
import {
  AlreadyContributedError,
  CoordinatorClosedError,
  NotAMemberError,
  StaleContributionError,
  UnknownWorkerError,
  VersionUnavailableError,
} from '../../../services/coordinator/rounds/errors.js';
import { COORDINATOR_STATUS } from '../../../services/coordinator/rpc/coordinator-status.js';

/** What a grpc-js client rejects with for a status the server sent (callErrorFromStatus). */
function received(status: { code: Status; details: string; metadata: Metadata }): ServiceError {
  return Object.assign(new Error(`${status.code} ${Status[status.code]}: ${status.details}`), status);
}

describe('classify', () => {
  it('reads the class from the trailing metadata, not from the message', () => {
    // The message reads like another refusal; only the metadata says which it is.
    const sent = toServiceError(new NotAMemberError('w1', 4, 'already contributed'), COORDINATOR_STATUS);
    expect(classify(received(sent))).toEqual({ code: Status.FAILED_PRECONDITION, errorClass: CoordinatorRefusal.NotAMember, tensor: null });
    const retried = toServiceError(new AlreadyContributedError('w1', 4), COORDINATOR_STATUS);
    expect(classify(received({ ...retried, details: 'unknown worker w1' }))?.errorClass).toBe(CoordinatorRefusal.AlreadyContributed);
  });

  it('gives the code and no class when the server named none', () => {
    const failure = classify(received({ code: Status.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() }));
    expect(failure).toEqual({ code: Status.UNAVAILABLE, errorClass: null, tensor: null });
  });

  it('gives the refused tensor', () => {
    const sent = toServiceError(new TensorShapeError('a/kernel', [3, 5], [5, 3]));
    expect(classify(received(sent))).toEqual({ code: Status.INVALID_ARGUMENT, errorClass: 'TensorShapeError', tensor: 'a/kernel' });
  });

  it('is null for an error that is not a gRPC status', () => {
    expect(classify(new UnknownWorkerError('w1'))).toBeNull();
    expect(classify(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))).toBeNull();
    expect(classify(Object.assign(new Error('not sent'), { code: Status.NOT_FOUND }))).toBeNull();
    expect(classify(null)).toBeNull();
  });

  it('tells an unreachable server by its code', () => {
    expect(isUnavailable(received({ code: Status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: new Metadata() }))).toBe(true);
    expect(isUnavailable(received(toServiceError(new CoordinatorClosedError('bye'), COORDINATOR_STATUS)))).toBe(true);
    expect(isUnavailable(received(toServiceError(new VersionUnavailableError(2, 9), COORDINATOR_STATUS)))).toBe(false);
  });
});

describe('the coordinator refusals a client names', () => {
  it.each([
    [CoordinatorRefusal.UnknownWorker, new UnknownWorkerError('w1')],
    [CoordinatorRefusal.StaleContribution, new StaleContributionError('w1', 4, 5, 'not the open round')],
    [CoordinatorRefusal.NotAMember, new NotAMemberError('w1', 4, 'not a member of this round')],
    [CoordinatorRefusal.AlreadyContributed, new AlreadyContributedError('w1', 4)],
    [CoordinatorRefusal.VersionUnavailable, new VersionUnavailableError(2, 9)],
    [CoordinatorRefusal.CoordinatorClosed, new CoordinatorClosedError('bye')],
  ])('%s is the class the coordinator sends', (name, err) => {
    expect(classify(received(toServiceError(err, COORDINATOR_STATUS)))?.errorClass).toBe(name);
  });
});
