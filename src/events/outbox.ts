/**
 * A bounded FIFO of events waiting for the server. When full, the oldest
 * droppable item (a progress report: a newer one supersedes it) makes room;
 * the others are never dropped, so past its capacity the queue only grows
 * when nothing droppable is left (`overCapacity`). Each item gets a ticket
 * (1, 2, 3...) so flush can wait for "everything queued so far".
 */
export class Outbox<T> {
  private items: Array<{ ticket: number; item: T }> = [];
  private head = 0;
  private nextTicket = 1;

  constructor(
    readonly capacity: number,
    private readonly isDroppable: (item: T) => boolean,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`outbox capacity must be >= 1, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** The ticket of the last item pushed (0 before any). */
  get lastTicket(): number {
    return this.nextTicket - 1;
  }

  /** The oldest ticket still queued, or null when empty. */
  get oldestTicket(): number | null {
    return this.items[this.head]?.ticket ?? null;
  }

  /** Appends; returns how many items were dropped to stay within capacity, and whether it is over capacity anyway. */
  push(item: T): { ticket: number; dropped: number; overCapacity: boolean } {
    const ticket = this.nextTicket++;
    this.items.push({ ticket, item });
    let dropped = 0;
    while (this.length > this.capacity) {
      let index = this.head;
      while (index < this.items.length && !this.isDroppable(this.items[index]!.item)) index++;
      if (index === this.items.length) break;
      this.items.splice(index, 1);
      dropped++;
    }
    return { ticket, dropped, overCapacity: this.length > this.capacity };
  }

  /** Takes the oldest item out, with its ticket. */
  shift(): { ticket: number; item: T } | undefined {
    const entry = this.items[this.head];
    if (entry === undefined) return undefined;
    this.head++;
    // Compact now and then: shift stays O(1) amortised without Array.shift's copy each time.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}
