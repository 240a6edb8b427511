// The CLI's vocabulary: every option `blox` parses, the flag groups commands share, and the shapes
// a command is written against (its context, its parsed values).
import type { Backend } from './backend.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Stops `blox coordinator` (besides SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once `blox coordinator` listens. */
  onListening?: (url: string) => void;
  /** Set when stdout is a terminal: `deploy status --watch` then redraws a progress bar in place, no wider than this. */
  terminalColumns?: number;
}

export const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  endpoint: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  direct: { type: 'boolean' },
  table: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  region: { type: 'string' },
  // environments
  cluster: { type: 'string' },
  'task-definition': { type: 'string' },
  expression: { type: 'string' },
  'clear-expression': { type: 'boolean' },
  'max-unavailable': { type: 'string' },
  'max-surge': { type: 'string' },
  'min-healthy-seconds': { type: 'string' },
  'healthy-deadline-seconds': { type: 'string' },
  'auto-rollback': { type: 'boolean' },
  'no-auto-rollback': { type: 'boolean' },
  'progress-deadline-seconds': { type: 'string' },
  'failure-threshold': { type: 'string' },
  canary: { type: 'string' },
  'auto-promote': { type: 'boolean' },
  'no-auto-promote': { type: 'boolean' },
  strategy: { type: 'string' },
  critical: { type: 'boolean' },
  'no-critical': { type: 'boolean' },
  order: { type: 'string' },
  repair: { type: 'string' },
  'repair-budget': { type: 'string' },
  file: { type: 'string', short: 'f' },
  'no-deploy': { type: 'boolean' },
  'deployment-token': { type: 'string' },
  // lists
  limit: { type: 'string' },
  'next-token': { type: 'string' },
  all: { type: 'boolean' },
  // deployments
  revision: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  // instances and tasks
  status: { type: 'string' },
  environment: { type: 'string' },
  // coordinator
  listen: { type: 'string' },
  'check-ecs': { type: 'boolean' },
  'ecs-endpoint': { type: 'string' },
  'require-token-for-reads': { type: 'boolean' },
  'insecure-no-auth': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const;

export type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export const CONNECTION = ['output', 'endpoint', 'token', 'token-file', 'direct', 'table', 'dynamodb-endpoint', 'region', 'help'];
export const DEFINITION = [
  'cluster',
  'task-definition',
  'expression',
  'max-unavailable',
  'max-surge',
  'min-healthy-seconds',
  'healthy-deadline-seconds',
  'auto-rollback',
  'no-auto-rollback',
  'progress-deadline-seconds',
  'failure-threshold',
  'canary',
  'auto-promote',
  'no-auto-promote',
  'strategy',
  'critical',
  'no-critical',
  'order',
  'repair',
  'repair-budget',
  'file',
];
export const PAGING = ['limit', 'next-token', 'all'];

export interface Command {
  usage: string;
  flags: string[];
  run(args: string[], values: Values, ctx: Context): Promise<number>;
}

export interface Context {
  io: CliIo;
  json: boolean;
  backend(): Backend;
  print(value: unknown, human: () => string): void;
}
