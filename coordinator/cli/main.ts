// Entry of dist/blox.js (bundled by scripts/build.mjs): the `blox` command line.
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  ...(process.stdout.isTTY ? { terminalColumns: process.stdout.columns || 80 } : {}),
});
