// What `deploy status --watch` waits on between two reads: the coordinator's deployments stream
// (/v1/stream/deployments?environment=E) when it offers one, so that a change shows at once instead
// of at the next poll; the poll interval otherwise (an older coordinator, a table without a stream,
// --direct). A stream that breaks is opened again after the `retry` the coordinator advises, and
// resumes from the last event seen.
import type { Backend } from './backend.js';
import type { SseEvent } from './sse-client.js';

const RECONNECT_MS = 1_000;
/** With a stream, the watch still reads now and then: instance counts change without a deployment event. */
const STREAM_REFRESH_MS = 30_000;

export class DeploymentChanges {
  private wake: (() => void) | undefined;
  private changed = false;
  private closed = false;
  private lastEventId: string | undefined;
  /** Whether the coordinator offers the stream (false: the watch polls). */
  offered = false;

  private constructor(
    private readonly backend: Backend,
    private readonly path: string,
  ) {}

  /** Opens the stream of `environment`'s deployments; the result says whether it is offered. */
  static async open(backend: Backend, environment: string): Promise<DeploymentChanges> {
    const changes = new DeploymentChanges(backend, `/v1/stream/deployments?environment=${encodeURIComponent(environment)}`);
    const first = await changes.connect();
    if (first) {
      changes.offered = true;
      void changes.follow(first);
    }
    return changes;
  }

  /** Waits until a deployment of the environment changes, or `pollMs` (without a stream) has passed; at most `maxMs`. */
  wait(pollMs: number, maxMs: number): Promise<void> {
    const ms = Math.max(10, Math.min(maxMs, this.offered ? STREAM_REFRESH_MS : pollMs));
    if (this.changed) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
    this.wake?.();
  }

  private abort: AbortController | undefined;

  private async connect(): Promise<AsyncIterable<SseEvent> | undefined> {
    if (!this.backend.openStream) return undefined;
    this.abort = new AbortController();
    try {
      return await this.backend.openStream(this.path, { ...(this.lastEventId ? { lastEventId: this.lastEventId } : {}), signal: this.abort.signal });
    } catch {
      return undefined;
    }
  }

  private async follow(stream: AsyncIterable<SseEvent> | undefined): Promise<void> {
    while (!this.closed) {
      if (stream) {
        try {
          for await (const event of stream) {
            if (event.id) this.lastEventId = event.id;
            this.changed = true;
            this.wake?.();
          }
        } catch {
          // cut or aborted: connect again below
        }
      }
      if (this.closed) return;
      // Until the stream is back, the watch polls at its interval.
      this.offered = false;
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      if (this.closed) return;
      stream = await this.connect();
      if (stream) this.offered = true;
    }
  }
}
