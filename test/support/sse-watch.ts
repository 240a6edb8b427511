// A test's view of one coordinator stream (/v1/stream/*): every event as it arrives, with the time
// it arrived, and waits for the events a test expects.
import { openStream, type SseEvent } from '../../coordinator/cli/sse-client.js';
import { waitFor } from './wait.js';

export interface ReceivedEvent extends SseEvent {
  at: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export class StreamWatch {
  readonly events: ReceivedEvent[] = [];
  ended = false;
  private readonly abort = new AbortController();

  private constructor(readonly url: string) {}

  /** Opens `url`; fails when the coordinator does not offer the stream. */
  static async open(url: string, options: { lastEventId?: string; token?: string } = {}): Promise<StreamWatch> {
    const watch = new StreamWatch(url);
    const stream = await openStream(url, { ...options, signal: watch.abort.signal });
    if (!stream) throw new Error(`${url} is not offered`);
    void (async () => {
      try {
        for await (const event of stream) watch.events.push({ ...event, at: performance.now(), json: JSON.parse(event.data) });
      } catch {
        // aborted or cut
      } finally {
        watch.ended = true;
      }
    })();
    return watch;
  }

  get lastId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  /** The first event from index `from` on that `match`es. */
  async next(what: string, match: (event: ReceivedEvent) => boolean, from = 0, timeoutMs = 5_000): Promise<ReceivedEvent> {
    return waitFor(
      what,
      timeoutMs,
      () => this.events.slice(from).find(match),
      5,
      () => `events: ${this.events.map((e) => `${e.event} ${e.data.slice(0, 120)}`).join('\n')}`,
    );
  }

  close(): void {
    this.abort.abort();
  }
}
