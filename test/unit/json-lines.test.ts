import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../core/json-lines.js';

describe('LineSplitter', () => {
  it('returns each complete line of a chunk', () => {
    expect(new LineSplitter().push('{"a":1}\n{"b":2}\n')).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('holds a line split across chunks until its newline arrives', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('{"a":')).toEqual([]);
    expect(splitter.push(Buffer.from('1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(splitter.push(':2}\n')).toEqual(['{"b":2}']);
  });

  it('trims lines and drops blank ones', () => {
    expect(new LineSplitter().push('  {"a":1}\r\n\n   \n{"b":2}\n')).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('returns nothing for a chunk without a newline', () => {
    expect(new LineSplitter().push('{"a":1}')).toEqual([]);
  });
});
