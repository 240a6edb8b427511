// One Server-Sent Events response: frames, the `retry:` advice, keepalive comments, and the bound
// on what a slow reader may leave buffered. Invariant: the bytes this response holds unsent never
// exceed `allowance` (plus one frame): past it the connection is cut and its memory freed; the
// client reconnects (retry: 1000) with its Last-Event-ID and resumes, or gets a fresh snapshot.
import type { ServerResponse } from 'node:http';

export const RETRY_MS = 1_000;

export function sseFrame(type: string, id: string, data: unknown): string {
  // JSON.stringify never yields a raw newline, so `data:` is one line.
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class SseResponse {
  private open = true;
  private allowance: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly onOverflow: (buffered: number) => void,
  ) {
    this.allowance = maxBufferedBytes;
    res.on('close', () => (this.open = false));
  }

  get isOpen(): boolean {
    return this.open && !this.res.destroyed;
  }

  begin(headers: Record<string, string>): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Proxies that buffer answers (nginx) pass this one on at once.
      'x-accel-buffering': 'no',
    });
    this.res.write(`retry: ${RETRY_MS}\n\n`);
  }

  /** Writes the first frames (a snapshot may be large): the bound counts from what they leave buffered. */
  sendInitial(text: string): void {
    if (!this.isOpen) return;
    this.res.write(text);
    this.allowance = this.res.writableLength + this.maxBufferedBytes;
  }

  /** Writes a frame, or cuts a reader that leaves too much unread. */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    if (this.res.writableLength > this.allowance) {
      const buffered = this.res.writableLength;
      this.open = false;
      this.res.destroy();
      this.onOverflow(buffered);
      return false;
    }
    this.res.write(text);
    // As the initial frames drain, the allowance shrinks back to the bound.
    this.allowance = Math.max(this.maxBufferedBytes, Math.min(this.allowance, this.res.writableLength + this.maxBufferedBytes));
    return true;
  }

  keepalive(): void {
    this.send(': keepalive\n\n');
  }

  end(): void {
    if (!this.isOpen) return;
    this.open = false;
    this.res.end();
  }
}
