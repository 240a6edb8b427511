// A collection kept live from one of the coordinator's streams (`/v1/stream/*`, Server-Sent
// Events), read with fetch() so the Authorization header can go with it (EventSource cannot send
// one). The stream's first event is a snapshot of every item, then upserts and removes; each event
// has an id, and a reconnect sends the last one (Last-Event-ID) so the coordinator resumes after it
// or sends a fresh snapshot: never a gap. A coordinator without the stream (404, or 503 for a
// table without its DynamoDB Stream) is polled through the matching list route instead, each
// answer applied as a snapshot.
import { authHeaders } from './api.js';

/**
 * A streaming parser of the text/event-stream format: `push` takes text as it arrives (chunks
 * may split lines anywhere), `onEvent({event, data, id})` is called at each blank line that ends an
 * event with data; `onRetry(ms)` for a `retry:` field. Comments (`: keepalive`) are skipped.
 */
export function sseParser(onEvent, onRetry = () => {}) {
  let buffer = '';
  let afterCr = false;
  let event = '';
  let data = [];
  let id;
  const line = (text) => {
    if (text === '') {
      if (data.length > 0) onEvent({ event: event || 'message', data: data.join('\n'), id });
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
  };
  return {
    push(chunk) {
      if (chunk === '') return;
      // A \r ends a line at once; a \n right after it (perhaps in the next chunk) belongs to it.
      const text = afterCr && chunk.startsWith('\n') ? chunk.slice(1) : chunk;
      afterCr = chunk.endsWith('\r');
      buffer += text;
      const parts = buffer.split(/\r\n|\n|\r/);
      buffer = parts.pop() ?? '';
      for (const part of parts) line(part);
    },
    /** The last event id seen (sent back as Last-Event-ID). */
    get lastId() {
      return id;
    },
  };
}

/**
 * Items by key, live. `mode` says how: 'connecting', 'live' (the stream), 'polling' (no stream on
 * this coordinator), 'unauthorized' (reads need a token), 'reconnecting'.
 */
export class LiveCollection {
  /**
   * @param {{stream: string, list: () => Promise<object[]>, keyOf: (item: object) => string,
   *   keyOfRemoved: (key: object) => string, onChange: () => void, onMode?: () => void, pollMs?: number}} options
   */
  constructor(options) {
    this.options = options;
    this.items = new Map();
    this.mode = 'connecting';
    this.error = '';
    this.loaded = false;
    this.retryMs = 1000;
    this.lastEventId = undefined;
    this.abort = undefined;
    /** Each start begins a new run; whatever an older run still had under way (a poll, a timer) ends when it sees that. */
    this.run = 0;
  }

  start() {
    this.run++;
    void this.connect(this.run);
  }

  /** Drops the current connection (a new token, a stop). */
  stop() {
    this.run++;
    this.abort?.abort();
    clearTimeout(this.timer);
  }

  restart() {
    this.stop();
    this.start();
  }

  setMode(mode, error = '') {
    if (mode === this.mode && error === this.error) return;
    this.mode = mode;
    this.error = error;
    this.options.onMode?.();
  }

  /** Calls `fn` after `ms` if run `run` is still the current one. */
  later(run, fn, ms) {
    if (run !== this.run) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => run === this.run && fn(), ms);
  }

  async connect(run) {
    const abort = new AbortController();
    this.abort = abort;
    const headers = { accept: 'text/event-stream', ...authHeaders() };
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    let res;
    try {
      res = await fetch(this.options.stream, { headers, signal: abort.signal, cache: 'no-store' });
    } catch (error) {
      if (!abort.signal.aborted) this.reconnect(run, `the coordinator cannot be reached (${error.message})`);
      return;
    }
    if (run !== this.run) {
      void res.body?.cancel();
      return;
    }
    // No stream here: an older coordinator (404), or a table without its DynamoDB Stream (503).
    if (res.status === 404 || res.status === 503) {
      void res.body?.cancel();
      this.setMode('polling');
      void this.poll(run);
      return;
    }
    if (res.status === 401) {
      void res.body?.cancel();
      this.setMode('unauthorized', 'reading needs a token: enter one with "Token"');
      this.later(run, () => this.connect(run), 5000);
      return;
    }
    if (!res.ok || !res.body) {
      void res.body?.cancel();
      this.reconnect(run, `the stream answered ${res.status}`);
      return;
    }
    this.setMode('live');
    const parser = sseParser(
      (event) => this.apply(event),
      (ms) => (this.retryMs = ms),
    );
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch {
      // the connection broke: reconnect below
    }
    if (!abort.signal.aborted) this.reconnect(run, 'the stream ended');
  }

  reconnect(run, why) {
    if (run !== this.run) return;
    this.setMode('reconnecting', why);
    this.later(run, () => this.connect(run), this.retryMs);
  }

  apply({ event, data, id }) {
    let body;
    try {
      body = JSON.parse(data);
    } catch {
      return; // not an event of the contract
    }
    if (id !== undefined) this.lastEventId = id;
    const { keyOf, keyOfRemoved } = this.options;
    if (event === 'snapshot') this.replace(body.items ?? []);
    else if (event === 'upsert') this.items.set(keyOf(body), body);
    else if (event === 'remove') this.items.delete(keyOfRemoved(body.key ?? {}));
    else return;
    this.options.onChange();
  }

  replace(items) {
    const { keyOf } = this.options;
    this.items = new Map(items.map((item) => [keyOf(item), item]));
    this.loaded = true;
  }

  async poll(run) {
    try {
      const items = await this.options.list();
      if (run !== this.run) return;
      this.replace(items);
      this.setMode('polling');
      this.options.onChange();
    } catch (error) {
      if (run !== this.run) return;
      if (error.status === 401) this.setMode('unauthorized', error.message);
      else this.setMode('reconnecting', error.status ? error.message : `the coordinator cannot be reached (${error.message})`);
    }
    this.later(run, () => this.poll(run), this.options.pollMs ?? 2000);
  }
}
