// The coordinator's sampler: which indices each member trains per round, each index applied once per epoch.
export { EpochSampler, type CommitResult, type SamplerExtras } from './epoch-sampler.js';
export { planIndices, stepIndices, type MemberAssignment, type RoundPlan } from './round-plan.js';
export { parseSamplerState, type SamplerState } from './sampler-state.js';
export { compileSamplerOptions, type CompiledSamplerOptions, type SamplerOptions } from './sampler-options.js';
export { AppliedLedger, type LedgerReport } from './applied-ledger.js';
export {
  AppliedCountError,
  EpochCompleteError,
  EpochIncompleteError,
  LedgerIndexError,
  MemberListError,
  RoundOutstandingError,
  SamplerOptionError,
  SamplerStateError,
  UnknownMemberError,
  UnknownRoundError,
} from './errors.js';
