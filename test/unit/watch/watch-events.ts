import {
  envelopeSchema,
  eventPayloadSchemas,
  type EventPayloads,
  type EventType,
  type FleetEvent,
} from '../../../src/events/event-payloads.js';

/**
 * Synthetic events for the watch tests, each checked against the contract's
 * schemas as it is made, so the fixtures cannot drift from what the bus carries.
 */

export const T0 = Date.parse('2025-03-01T12:00:00.000Z');

export function validate(event: FleetEvent): void {
  envelopeSchema.parse(event);
  eventPayloadSchemas[event.type].parse(event.data);
}

export interface RoundSpec {
  /** Who arrived last, and by how much (null alone). */
  straggler?: string | null;
  straggleMs?: number;
  roundMs?: number;
  /** Wall time since the previous event (default: roundMs). */
  advanceMs?: number;
  loss?: number;
}

/**
 * A 2-worker run by default: 1000 training samples, batch 50 per worker, so
 * an epoch is 10 rounds of 100 samples and 2 epochs are 20 steps.
 */
export class RunScript {
  readonly events: FleetEvent[] = [];
  nowMs = T0;
  private readonly seqs = new Map<string, number>();
  round = 0;
  globalStep = 0;
  epoch = 1;
  epochSamplesDone = 0;
  version = 0;
  readonly members: string[] = [];

  constructor(
    readonly run = 'run-watch-1',
    readonly config = { workers: 2, model: 'cnn', epochs: 2, batchSize: 50, syncEvery: 1, trainSamples: 1000, testSamples: 200 },
    readonly coordinator = 'coordinator:3f9a',
    readonly evaluator = 'evaluator:77c1',
  ) {}

  get totalSteps(): number {
    return (this.config.epochs * this.config.trainSamples) / (this.config.batchSize * this.config.workers);
  }

  emit<T extends EventType>(type: T, data: EventPayloads[T], source = this.coordinator): FleetEvent<T> {
    const seq = (this.seqs.get(source) ?? 0) + 1;
    this.seqs.set(source, seq);
    const event: FleetEvent<T> = { type, run: this.run, source, seq, time: new Date(this.nowMs).toISOString(), data };
    validate(event);
    this.events.push(event);
    return event;
  }

  start(resumed = false): this {
    this.emit('run.started', { ...this.config, totalSteps: this.totalSteps, version: this.version, resumed });
    return this;
  }

  join(worker: string, name = ''): this {
    this.members.push(worker);
    this.emit('worker.joined', { worker, name, members: this.members.length });
    return this;
  }

  leave(worker: string, reason: string): this {
    this.members.splice(this.members.indexOf(worker), 1);
    this.emit('worker.left', { worker, reason, members: this.members.length });
    return this;
  }

  /** One closed round: each member's progress, then the round (and the epoch's end when it ends). */
  closeRound(spec: RoundSpec = {}): this {
    const roundMs = spec.roundMs ?? 300;
    this.nowMs += spec.advanceMs ?? roundMs;
    this.round++;
    this.globalStep++;
    this.version++;
    const perWorker = this.config.batchSize;
    const straggler =
      spec.straggler === undefined ? (this.members.length > 1 ? (this.members[this.members.length - 1] ?? null) : null) : spec.straggler;
    for (const worker of this.members) {
      const arrivedMs = worker === straggler ? roundMs - 20 : roundMs - 20 - (spec.straggleMs ?? 0);
      this.emit('worker.progress', {
        worker,
        round: this.round,
        epoch: this.epoch,
        samples: perWorker,
        loss: spec.loss ?? 2.3 - this.round * 0.05,
        trainMs: Math.max(0, arrivedMs - 10),
        imagesPerSecond: (perWorker * 1000) / Math.max(1, arrivedMs - 10),
        arrivedMs: Math.max(0, arrivedMs),
      });
    }
    const samples = perWorker * this.members.length;
    this.epochSamplesDone += samples;
    this.emit('round', {
      round: this.round,
      epoch: this.epoch,
      version: this.version,
      globalStep: this.globalStep,
      members: this.members.length,
      samples,
      epochSamplesDone: this.epochSamplesDone,
      epochSamples: this.config.trainSamples,
      roundMs,
      straggler,
      straggleMs: straggler === null ? 0 : (spec.straggleMs ?? 10),
      bytesIn: 1000 * this.members.length,
      bytesOut: 2000 * this.members.length,
      lr: 0.05,
    });
    if (this.epochSamplesDone >= this.config.trainSamples) {
      this.emit('epoch', {
        epoch: this.epoch,
        version: this.version,
        globalStep: this.globalStep,
        trainLoss: 1.5,
        trainAccuracy: 0.45,
        samples: this.epochSamplesDone,
        epochMs: 3000,
      });
      this.emit('checkpoint', {
        version: this.version,
        round: this.round,
        epoch: this.epoch,
        globalStep: this.globalStep,
        epochEnd: true,
        trainLoss: 1.5,
        trainAccuracy: 0.45,
      });
      this.epoch++;
      this.epochSamplesDone = 0;
    }
    return this;
  }

  rounds(n: number, spec: RoundSpec | ((i: number) => RoundSpec) = {}): this {
    for (let i = 0; i < n; i++) this.closeRound(typeof spec === 'function' ? spec(i) : spec);
    return this;
  }

  evaluate(accuracy: number, best: boolean, epoch = Math.max(1, this.epoch - 1)): this {
    this.emit(
      'eval',
      {
        version: this.version,
        epoch,
        globalStep: this.globalStep,
        epochEnd: true,
        accuracy,
        loss: 1.2,
        samples: this.config.testSamples,
        perClassAccuracy: Array.from({ length: 10 }, () => accuracy),
        confusion: Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 20 : 0))),
        evalMs: 800,
        best,
      },
      this.evaluator,
    );
    if (best) this.emit('best', { version: this.version, epoch, accuracy, path: `runs/${this.run}/best` }, this.evaluator);
    return this;
  }

  finish(status: 'finished' | 'failed' = 'finished', reason: string | null = null): this {
    this.emit('run.finished', { status, version: this.version, epochs: this.config.epochs, reason });
    return this;
  }
}
