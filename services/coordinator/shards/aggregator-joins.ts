import { FleetError } from '../../../src/runtime/errors.js';

/** A join the coordinator cannot take: every shard is taken, or the address is not host:port. */
export class AggregatorJoinError extends FleetError {}

/**
 * The aggregators a coordinator waits for (--shards K --aggregators join):
 * each `fleet aggregator --coordinator` joins with its address and is given
 * the next shard (1..K-1) in order of arrival; a repeated join of the same
 * address (a retry after a lost answer) gets the same shard.
 */
export class AggregatorJoins {
  private readonly joined: string[] = [];
  private resolve!: (addresses: string[]) => void;
  private readonly all: Promise<string[]>;

  constructor(readonly expected: number) {
    this.all = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  /** The shard `address` holds. */
  join(address: string): number {
    if (!/^[^\s:]+:\d+$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d+$/.test(address))
      throw new AggregatorJoinError(`aggregator address ${JSON.stringify(address)}: expected host:port`);
    const known = this.joined.indexOf(address);
    if (known >= 0) return known + 1;
    if (this.joined.length >= this.expected)
      throw new AggregatorJoinError(`all ${this.expected} aggregators have joined (${this.joined.join(', ')}); ${address} is one too many`);
    this.joined.push(address);
    if (this.joined.length === this.expected) this.resolve([...this.joined]);
    return this.joined.length;
  }

  /** Resolves with every aggregator's address, in shard order, once the last has joined. */
  addresses(): Promise<string[]> {
    return this.all;
  }

  get count(): number {
    return this.joined.length;
  }
}
