import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The AWS SDK and dockerode stay at the edges: only the adapter files below may import them (type-only
// imports and import() included), so that the rest of the code (the agent's observe/decide/act/...,
// the store's logic, the coordinator's routes) is written against our own interfaces.
const SDK_MESSAGE =
  "AWS SDK and dockerode imports belong in an adapter file (agent/adapters/**, see SDK_ADAPTERS in eslint.config.js); use the adapter's interface here.";
const SDK_SOURCE = '/^(@aws-sdk\\u002F|dockerode$)/';
const SDK_ADAPTERS = [
  'agent/adapters/**', // the agent's DynamoDB, ECS and Docker adapters
  'core/store/dynamo.ts', // the store's DynamoDB table access
  'core/dynamo-table.ts', // the table definition, typed as CreateTableCommandInput (a type only)
  'coordinator/ecs-check.ts', // the coordinator's ECS check
  'coordinator/streams/table-stream.ts', // the coordinator's reader of the table's DynamoDB Stream
  'local/ecs/shapes.ts', // the ECS emulator: ECS's own request shapes (types only)
  'local/ecs/testing.ts', // the emulator's test helpers: an ECS client of the emulator
  'local/runtime/docker.ts', // the local world's Docker task runtime
  // Not an adapter: the sandbox provisions its DynamoDB Local table and emulator cluster itself.
  // Known exception, to move behind an adapter; do not add to it.
  'local/sandbox/sandbox.ts',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.blox-local/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Everything but the tests, benchmarks and build scripts; new folders (agent/decide/, ...) included.
    ignores: ['test/**', 'bench/**', 'scripts/**', ...SDK_ADAPTERS],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'dockerode', message: SDK_MESSAGE }],
          patterns: [{ group: ['@aws-sdk/*'], message: SDK_MESSAGE }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: `ImportExpression[source.value=${SDK_SOURCE}]`, message: SDK_MESSAGE },
        { selector: `CallExpression[callee.name='require'][arguments.0.value=${SDK_SOURCE}]`, message: SDK_MESSAGE },
        { selector: `TSImportType[argument.literal.value=${SDK_SOURCE}]`, message: SDK_MESSAGE },
      ],
    },
  },
  {
    // The fleet page's modules run in the browser (coordinator/ui/, served as they are).
    files: ['coordinator/ui/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'sessionStorage',
          'fetch',
          'requestAnimationFrame',
          'performance',
          'CSS',
          'AbortController',
          'TextDecoderStream',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
