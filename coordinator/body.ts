// Reading a request's body: bounded, and read (then thrown away) past the bound before the 413 so
// that a client sending it whole sees the answer, not a broken pipe.
import type { IncomingMessage } from 'node:http';
import { BloxError, InvalidInputError, errorMessage } from '../core/errors.js';

/**
 * A body over the limit is still read, and thrown away, up to this many bytes before the 413 is
 * sent: a server that answers and closes while the client is still sending makes the client see a
 * broken pipe or a reset instead of the 413. Past it the connection is cut (the answer may be lost).
 */
export const DISCARD_LIMIT = 8 * 1024 * 1024;

/** The body, up to `limit` bytes; over it, PayloadTooLarge once the body was read (and discarded) or passed DISCARD_LIMIT. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new BloxError('PayloadTooLarge', `the request body is larger than ${limit} bytes`);
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > DISCARD_LIMIT) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DISCARD_LIMIT) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge());
      }
    };
    req.on('data', onData);
    req.on('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/** Reads and parses a JSON body; `required` false lets an empty body be `undefined`. */
export async function readJson(req: IncomingMessage, limit: number, required: boolean): Promise<unknown> {
  const text = (await readBody(req, limit)).toString('utf8');
  if (text.trim() === '') {
    if (required) throw new InvalidInputError('(body)', 'is required: a JSON object');
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError('(body)', `is not valid JSON: ${errorMessage(error)}`);
  }
}
