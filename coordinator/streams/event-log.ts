// The recent events of one feed, as SSE frames, for resuming clients: bounded by count and bytes.
// Ids are `<epoch>-<seq>`: seq increases by one per event of this coordinator process (one counter
// for every feed), epoch is new for every process, so an id of another process or an older run is
// never taken for one of this run's.
// Invariant: a client that last saw seq `s` (of this epoch) can be served every later event of the
// feed exactly when `floor <= s <= head`: `floor` is the seq of the newest event no longer held.
import { randomBytes } from 'node:crypto';

export interface LoggedEvent {
  seq: number;
  /** Wall time (ms) the event was logged: snapshots replay what came shortly before them. */
  at: number;
  scope: string;
  frame: string;
}

/** One counter per process, shared by the feeds. */
export class EventIds {
  readonly epoch: string;
  private last = 0;

  constructor(epoch?: string) {
    this.epoch = epoch ?? `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  }

  next(): number {
    return ++this.last;
  }

  get head(): number {
    return this.last;
  }

  format(seq: number): string {
    return `${this.epoch}-${seq}`;
  }

  /** The seq of an id of this epoch, else undefined (another process, an old run, or not an id at all). */
  parse(id: string | undefined): number | undefined {
    if (id === undefined) return undefined;
    const dash = id.lastIndexOf('-');
    if (dash < 0 || id.slice(0, dash) !== this.epoch) return undefined;
    const text = id.slice(dash + 1);
    if (!/^\d{1,15}$/.test(text)) return undefined;
    const seq = Number(text);
    return seq <= this.last ? seq : undefined;
  }
}

export class EventLog {
  private readonly events: LoggedEvent[] = [];
  private bytes = 0;
  /** The seq of the newest event dropped (0: none yet). */
  private floor = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  append(event: LoggedEvent): void {
    this.events.push(event);
    this.bytes += event.frame.length;
    while (this.events.length > this.maxEvents || (this.bytes > this.maxBytes && this.events.length > 1)) this.drop();
  }

  /** Every held event after `seq`, or undefined when some of them are no longer held. */
  after(seq: number): LoggedEvent[] | undefined {
    if (seq < this.floor) return undefined;
    // Events are in seq order: find the first after `seq`.
    let low = 0;
    let high = this.events.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.events[mid] as LoggedEvent).seq <= seq) low = mid + 1;
      else high = mid;
    }
    return this.events.slice(low);
  }

  /** The seq after which every event logged at or after `at` lies (what a snapshot begun at `at` replays). */
  seqBefore(at: number, head: number): number {
    for (let i = this.events.length - 1; i >= 0; i--) if ((this.events[i] as LoggedEvent).at < at) return (this.events[i] as LoggedEvent).seq;
    return this.events.length ? Math.max(this.floor, (this.events[0] as LoggedEvent).seq - 1) : Math.max(this.floor, head);
  }

  /** Forgets every event: no id logged before now resumes (changes were lost). */
  clear(head: number): void {
    this.events.length = 0;
    this.bytes = 0;
    this.floor = head;
  }

  get size(): { events: number; bytes: number } {
    return { events: this.events.length, bytes: this.bytes };
  }

  private drop(): void {
    const dropped = this.events.shift() as LoggedEvent;
    this.bytes -= dropped.frame.length;
    this.floor = dropped.seq;
  }
}
