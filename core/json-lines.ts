// Newline-delimited JSON (Docker's /events stream) arrives in chunks that need not end on a line
// boundary: keep the unfinished tail until the rest of its line comes.

/** Splits streamed text into complete lines, trimmed, blank ones dropped. */
export class LineSplitter {
  private buffer = '';

  /** Adds a chunk; returns the lines it completed (the unfinished tail waits for the next chunk). */
  push(chunk: Buffer | string): string[] {
    this.buffer += chunk.toString();
    const lines: string[] = [];
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) lines.push(line);
    }
    return lines;
  }
}
