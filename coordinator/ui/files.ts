// The fleet page's static files (index.html and the modules and style sheet beside it), served by
// the coordinator at `/` and `/ui/<file>`. Running from source they are read from this folder once;
// the bundle (scripts/build.mjs) replaces this module with one that holds the same files as text,
// so `node dist/blox.js coordinator` needs no file beside it.
import { readdirSync, readFileSync } from 'node:fs';

export interface PageFile {
  contentType: string;
  text: string;
}

/** The content type of each kind of file the page is made of; other files in the folder are not served. */
const PAGE_CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function pageFileType(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? undefined : PAGE_CONTENT_TYPES[name.slice(dot)];
}

function readPageFiles(): Map<string, PageFile> {
  const folder = new URL('./', import.meta.url);
  const files = new Map<string, PageFile>();
  for (const name of readdirSync(folder).sort()) {
    const contentType = pageFileType(name);
    if (contentType) files.set(name, { contentType, text: readFileSync(new URL(name, folder), 'utf8') });
  }
  return files;
}

/** By file name (`index.html`, `app.js`, ...). */
export const PAGE_FILES: ReadonlyMap<string, PageFile> = readPageFiles();
