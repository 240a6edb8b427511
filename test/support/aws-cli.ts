// The real AWS CLI for tests against the emulator: Debian's awscli first (what CI installs), then
// whatever is on PATH; locally a missing CLI skips the suites that need it, under CI it fails them.
// Calls run with throwaway credentials and no user configuration, without retries.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inCi } from './services.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function findAws(): string | undefined {
  if (existsSync('/usr/bin/aws')) return '/usr/bin/aws';
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(`${dir}/aws`)) return `${dir}/aws`;
  }
  if (inCi) throw new Error(`the AWS CLI (Debian awscli) is required under CI (CI=${process.env.CI}) but was not found`);
  return undefined;
}

/** `aws <service> <args> --endpoint-url <endpoint> --output json`, answered with its exit code. */
export function runAws(aws: string, service: string, endpoint: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      aws,
      [service, ...args, '--endpoint-url', endpoint, '--output', 'json'],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/tmp',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_PAGER: '',
          AWS_CONFIG_FILE: '/nonexistent/blox-aws-config',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/blox-aws-credentials',
          AWS_MAX_ATTEMPTS: '1',
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs the CLI and parses its JSON answer; a failing exit code is an error naming the command. */
export async function awsJson(aws: string, service: string, endpoint: string, args: string[]): Promise<Record<string, unknown>> {
  const result = await runAws(aws, service, endpoint, args);
  if (result.code !== 0) throw new Error(`aws ${service} ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout.trim() === '' ? {} : (JSON.parse(result.stdout) as Record<string, unknown>);
}
