// Reading a coordinator's Server-Sent Events stream (/v1/stream/*): the frames of the text/event-stream
// format (id, event, data, comments), parsed as they arrive.
import { request as httpRequest } from 'undici';
import { BloxError } from '../../core/errors.js';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Splits a text/event-stream into events; `push` text as it arrives. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = 'message';
  private id: string | undefined;

  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (this.buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (this.data.length) events.push({ ...(this.id !== undefined ? { id: this.id } : {}), event: this.event, data: this.data.join('\n') });
        this.data = [];
        this.event = 'message';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id') this.id = value;
    }
    return events;
  }
}

/**
 * Opens a stream; undefined when the coordinator does not offer it (an older one: 404; one whose
 * table has no stream: 503), so that the caller polls instead.
 */
export async function openStream(
  url: string,
  options: { token?: string; lastEventId?: string; signal?: AbortSignal } = {},
): Promise<AsyncIterable<SseEvent> | undefined> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
  const response = await httpRequest(url, {
    method: 'GET',
    headers,
    headersTimeout: 30_000,
    bodyTimeout: 0,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (response.statusCode === 404 || response.statusCode === 503) {
    await response.body.dump();
    return undefined;
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let message = `the coordinator answered ${response.statusCode}`;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not JSON: keep the status
    }
    throw new BloxError(response.statusCode === 401 ? 'Unauthorized' : 'Internal', message);
  }
  const body = response.body;
  body.setEncoding('utf8');
  return {
    async *[Symbol.asyncIterator]() {
      const parser = new SseParser();
      try {
        for await (const chunk of body) for (const event of parser.push(chunk as string)) yield event;
      } finally {
        body.destroy();
      }
    },
  };
}
