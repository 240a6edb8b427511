// Derives the AWS API calls a body of code can make from the AWS SDK v3 commands it uses.
//
// Code set (deriveShippedCalls): every non-test .ts file under the role's own directories, bundled by
// esbuild with tree shaking, so that of the shared core/** only the declarations the role's code
// really reaches count (the agent imports a parser from the store module, not the store's writes).
// A command counts when its class is constructed (`new XCommand(...)`), a paginator (`paginateX`)
// or waiter (`waitUntilX`) is called. Table provisioning (`createTable`, ...) is done by
// CloudFormation in AWS, so commands used only inside functions with those names are reported
// apart and must not be granted.
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { build } from 'esbuild';
import ts from 'typescript';

export const PROVISIONING_FUNCTIONS = new Set(['createTable', 'ensureTable', 'deleteTable']);

/** IAM prefixes of the SDK clients the code may use; any other client fails the derivation. */
const SERVICE_PREFIX: Record<string, string> = {
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  // The Streams API's actions are under the dynamodb: prefix too.
  '@aws-sdk/client-dynamodb-streams': 'dynamodb',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
};

/** Document-client commands of @aws-sdk/lib-dynamodb and the low-level operations they call. */
const LIB_DYNAMODB: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  Query: 'Query',
  Scan: 'Scan',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** Waiters and the operation they poll. */
const WAITERS: Record<string, string> = {
  TasksRunning: 'DescribeTasks',
  TasksStopped: 'DescribeTasks',
  ServicesStable: 'DescribeServices',
  ServicesInactive: 'DescribeServices',
  TableExists: 'DescribeTable',
  TableNotExists: 'DescribeTable',
};

/** Item operations inside TransactWriteItems / BatchWriteItem and the IAM action each needs. */
const TRANSACT_WRITE_ITEM: Record<string, string> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' };
const BATCH_WRITE_ITEM: Record<string, string> = { PutRequest: 'PutItem', DeleteRequest: 'DeleteItem' };

export interface CallSite {
  file: string;
  line: number;
  /** The nearest enclosing named function or method. */
  inFunction: string;
  /** Every enclosing named function or method, innermost first. */
  functions: string[];
  /** `service:Operation` as the SDK names it, e.g. `dynamodb:TransactWriteItems`. */
  operation: string;
  /** Further IAM actions this particular call needs (tagging a task on StartTask). */
  extraActions: string[];
}

/** Creating calls that tag what they create need ecs:TagResource as well (ECS checks it on create). */
const TAG_ON_CREATE = new Set(['ecs:StartTask', 'ecs:RunTask', 'ecs:CreateService', 'ecs:CreateCluster']);
const TAGGING_FIELDS = new Set(['tags', 'propagateTags']);

function tagsOnCreate(node: ts.Node, operation: string): string[] {
  if (!TAG_ON_CREATE.has(operation) || !ts.isNewExpression(node)) return [];
  const input = node.arguments?.[0];
  if (!input) return [];
  // An input built elsewhere cannot be read here: assume it may tag.
  if (!ts.isObjectLiteralExpression(input)) return ['ecs:TagResource'];
  const tags = input.properties.some((p) => ts.isSpreadAssignment(p) || (p.name !== undefined && ts.isIdentifier(p.name) && TAGGING_FIELDS.has(p.name.text)));
  return tags ? ['ecs:TagResource'] : [];
}

export interface Derivation {
  files: string[];
  calls: CallSite[];
  /** IAM actions the code needs (TransactWriteItems expanded to its item actions). */
  actions: Set<string>;
  /** Operations used only by table provisioning: must not be granted to a runtime role. */
  provisioning: Set<string>;
  problems: string[];
}

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(path));
    else if (entry.isFile() && path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function enclosingFunctions(node: ts.Node): string[] {
  const names: string[] = [];
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isFunctionExpression(n) || ts.isGetAccessor(n)) && n.name) names.push(n.name.getText());
    else if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && n.parent) {
      const p = n.parent;
      if ((ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) names.push(p.name.getText());
    }
  }
  return names.length ? names : ['<module>'];
}

interface FileScan {
  imports: string[];
  calls: CallSite[];
  writeItemKeys: Set<string>;
  problems: string[];
}

/** Scans one source text (exported for the scanner's own tests). */
export function scanSource(file: string, text: string): FileScan {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const imports: string[] = [];
  const problems: string[] = [];
  type Binding = [prefix: string, operation: string, kind: 'command' | 'paginator' | 'waiter'];
  const classify = (prefix: string, module: string, imported: string): Binding | undefined => {
    let m = /^(\w+)Command$/.exec(imported);
    if (m) {
      const op = module === '@aws-sdk/lib-dynamodb' ? LIB_DYNAMODB[m[1]!] : m[1]!;
      if (op) return [prefix, op, 'command'];
      problems.push(`${file}: unknown document-client command ${imported}`);
      return undefined;
    }
    m = /^paginate(\w+)$/.exec(imported);
    if (m) return [prefix, m[1]!, 'paginator'];
    m = /^waitUntil(\w+)$/.exec(imported) ?? /^waitFor(\w+)$/.exec(imported);
    if (m) {
      const op = WAITERS[m[1]!];
      if (op) return [prefix, op, 'waiter'];
      problems.push(`${file}: unknown waiter ${imported}: add it to WAITERS`);
      return undefined;
    }
    if (/^(ECS|DynamoDB|DynamoDBDocument)$/.test(imported))
      problems.push(`${file}: uses the aggregated client ${imported}; send Commands so that the permissions can be derived`);
    return undefined;
  };
  const bindings = new Map<string, Binding>();
  const namespaces = new Map<string, string>();

  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    const spec = statement.moduleSpecifier;
    if (!spec || !ts.isStringLiteral(spec)) continue;
    const module = spec.text;
    const typeOnly = ts.isImportDeclaration(statement) ? !!statement.importClause?.isTypeOnly : statement.isTypeOnly;
    if (module.startsWith('.')) {
      if (!typeOnly) imports.push(module);
      continue;
    }
    if (!module.startsWith('@aws-sdk/client-') && !module.startsWith('@aws-sdk/lib-')) continue;
    const prefix = SERVICE_PREFIX[module];
    if (typeOnly) continue;
    if (!prefix) {
      if (module !== '@aws-sdk/lib-storage') problems.push(`${file}: imports ${module}, a service the roles do not cover`);
      continue;
    }
    if (!ts.isImportDeclaration(statement)) continue;
    const clause = statement.importClause;
    const named = clause?.namedBindings;
    if (named && ts.isNamespaceImport(named)) namespaces.set(named.name.text, module);
    if (named && ts.isNamedImports(named)) {
      for (const element of named.elements) {
        if (element.isTypeOnly) continue;
        const binding = classify(prefix, module, (element.propertyName ?? element.name).text);
        if (binding) bindings.set(element.name.text, binding);
      }
    }
  }

  const calls: CallSite[] = [];
  const writeItemKeys = new Set<string>();
  const record = (node: ts.Node, prefix: string, op: string) => {
    const functions = enclosingFunctions(node);
    const operation = `${prefix}:${op}`;
    calls.push({
      file,
      line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      inFunction: functions[0]!,
      functions,
      operation,
      extraActions: tagsOnCreate(node, operation),
    });
  };
  const visit = (node: ts.Node) => {
    if (ts.isNewExpression(node) || ts.isCallExpression(node)) {
      const callee = node.expression;
      if (ts.isIdentifier(callee)) {
        const binding = bindings.get(callee.text);
        if (binding && (binding[2] === 'command') === ts.isNewExpression(node)) record(node, binding[0], binding[1]);
      } else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && namespaces.has(callee.expression.text)) {
        const module = namespaces.get(callee.expression.text)!;
        const binding = classify(SERVICE_PREFIX[module]!, module, callee.name.text);
        if (binding && (binding[2] === 'command') === ts.isNewExpression(node)) record(node, binding[0], binding[1]);
      }
    }
    if ((ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) && node.name && ts.isIdentifier(node.name)) {
      const key = node.name.text;
      if (key in TRANSACT_WRITE_ITEM || key in BATCH_WRITE_ITEM) writeItemKeys.add(key);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, calls, writeItemKeys, problems };
}

function actionsOf(calls: CallSite[], writeItemKeysByFile: Map<string, Set<string>>): { actions: Set<string>; provisioning: Set<string> } {
  const isProvisioning = (c: CallSite) => c.functions.some((f) => PROVISIONING_FUNCTIONS.has(f));
  const runtime = calls.filter((c) => !isProvisioning(c));
  const provisioning = new Set(calls.filter(isProvisioning).map((c) => c.operation));
  for (const c of runtime) provisioning.delete(c.operation);

  const actions = new Set<string>();
  for (const call of runtime) {
    for (const extra of call.extraActions) actions.add(extra);
    const [prefix, op] = call.operation.split(':') as [string, string];
    const itemKeys = writeItemKeysByFile.get(call.file) ?? new Set<string>();
    if (call.operation === 'dynamodb:TransactWriteItems') {
      // No IAM action of its own: each item needs the action of its kind.
      const kinds = Object.keys(TRANSACT_WRITE_ITEM).filter((k) => itemKeys.has(k));
      for (const kind of kinds.length ? kinds : Object.keys(TRANSACT_WRITE_ITEM)) actions.add(`dynamodb:${TRANSACT_WRITE_ITEM[kind]}`);
    } else if (call.operation === 'dynamodb:TransactGetItems') {
      actions.add('dynamodb:GetItem');
    } else if (call.operation === 'dynamodb:BatchWriteItem') {
      actions.add('dynamodb:BatchWriteItem');
      const kinds = Object.keys(BATCH_WRITE_ITEM).filter((k) => itemKeys.has(k));
      for (const kind of kinds.length ? kinds : Object.keys(BATCH_WRITE_ITEM)) actions.add(`dynamodb:${BATCH_WRITE_ITEM[kind]}`);
    } else {
      actions.add(`${prefix}:${op}`);
    }
  }
  return { actions, provisioning };
}

/**
 * The calls of the code as it ships: each non-test .ts file under `rootDirs` is an entry point of an
 * esbuild bundle (packages external, `excludeDirs` external too), tree-shaken, then scanned.
 */
export async function deriveShippedCalls(repoRoot: string, rootDirs: string[], excludeDirs: string[] = []): Promise<Derivation> {
  const entryPoints = rootDirs.flatMap((d) => listTs(resolve(repoRoot, d)));
  const excluded = excludeDirs.map((d) => resolve(repoRoot, d) + '/');
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints,
    outdir: 'permissions-scan-out',
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    treeShaking: true,
    minify: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'exclude-dirs',
        setup(b) {
          b.onResolve({ filter: /^\./ }, (args) => {
            const target = resolve(args.resolveDir, args.path);
            return excluded.some((dir) => target.startsWith(dir)) ? { path: args.path, external: true } : undefined;
          });
        },
      },
    ],
  });
  const calls: CallSite[] = [];
  const problems: string[] = [];
  const writeItemKeysByFile = new Map<string, Set<string>>();
  for (const output of result.outputFiles.filter((f) => f.path.endsWith('.js'))) {
    const text = output.text;
    const name = relative(repoRoot, output.path);
    const scan = scanSource(name, text);
    // Report call sites by the source module: esbuild marks each module's code with `// path`.
    const lines = text.split('\n');
    const moduleAt = (line: number): string => {
      for (let i = line - 1; i >= 0; i--) {
        const m = /^\/\/ ((?:agent|coordinator|core|local)\/\S+\.ts)$/.exec(lines[i]!);
        if (m) return m[1]!;
      }
      return name;
    };
    // (Lines of the bundle mean nothing to a reader: the module and the function name the site.)
    for (const call of scan.calls) calls.push({ ...call, file: moduleAt(call.line), line: 0 });
    problems.push(...scan.problems);
    // The item kinds written anywhere in this bundle count for its transactions (an over-approximation).
    for (const call of scan.calls) {
      const file = moduleAt(call.line);
      writeItemKeysByFile.set(file, new Set([...(writeItemKeysByFile.get(file) ?? []), ...scan.writeItemKeys]));
    }
  }
  const files = Object.keys(result.metafile.inputs)
    .filter((f) => !f.startsWith('node_modules/'))
    .sort();
  return { files, calls, problems, ...actionsOf(calls, writeItemKeysByFile) };
}
