// Cluster Query Language (CQL): the expression language of ECS `memberOf` placement constraints and
// of the ListContainerInstances `filter` parameter. blox-edge uses it for Environment instance
// groups (each agent evaluates the expression against its own instance) and the local ECS
// emulator uses it for `filter`. Pure code: a tokenizer, a recursive-descent parser and an evaluator.
//
// Grammar (lowest precedence first; `and` binds tighter than `or`, `not` tighter than `and`):
//   expression := or EOF
//   or         := and (('or' | '||') and)*
//   and        := unary (('and' | '&&') unary)*
//   unary      := ('not' | '!') unary | '(' or ')' | comparison
//   comparison := subject operator [argument]
//   argument   := value | '[' value (',' value)* ']'
//   value      := bare token | 'single-quoted' | "double-quoted"
//
// Behaviours modelled where the ECS documentation is unclear (ECS's own parser is not public):
// - Keywords, operators and subjects are case-sensitive and lowercase, as in every ECS example.
// - `=~` / `!~` take a Java-style regular expression (per the docs) that must match the WHOLE value
//   (Java's Pattern.matches), so `t2.*` selects `t2.small` but `t2` does not. The pattern is compiled
//   as a JavaScript RegExp; an invalid pattern is a syntax error pointing at the argument. Wildcard
//   examples such as `t2.*` behave as users expect under either reading.
// - An absent subject (attribute not set, fact not provided): `==`, `=~`, `in`, `>`, `>=`, `<`, `<=`
//   are false; `!=`, `!~`, `not in`, `!exists` are true. Every negative operator is exactly the
//   negation of its positive one, so `x != v` always equals `not (x == v)`.
// - An attribute that exists without a value (ECS capability attributes) is present with value ''.
// - `task:group` is multi-valued (the groups of the tasks on the instance): `==`, `=~`, `in` are true
//   when ANY group satisfies them; `!=`, `!~`, `not in` are their negations (no group satisfies);
//   `exists` is true when the instance runs at least one task with a group. Missing `taskGroups` = none.
// - Ordering operators on attributes compare numerically when both sides are decimal numbers,
//   otherwise by string (UTF-16 code unit) order.
// - `registeredAt` values are instants; a value without a zone (`2018-06-18T22:28:28`, `2018-06-18`)
//   is UTC. `registeredAt == 2018-02-13` therefore means exactly midnight UTC, not "that day".
// - `agentVersion` compares dotted numeric versions part by part (`1.9.0 < 1.14.5`).
// - Each non-attribute subject accepts only the operators the ECS docs list for it; attributes accept
//   every operator. `not in`, `not exists` (two words) are accepted as spellings of `!in`, `!exists`.
// - Attribute names follow ECS's rule (letters, digits, `-`, `_`, `/`, `\`, `.`; 1..128 characters).
//   Values are not restricted to ECS's attribute-value alphabet, because patterns need `*`, `+`, `?`.
//   Values containing spaces, `,`, `(`, `)`, `[`, `]`, `|`, `&`, `!`, `=`, `<`, `>`, `~` must be quoted.
//   Inside quotes, `\'` (or `\"`) and `\\` are escapes; any other backslash is kept, so regex escapes
//   such as `'t2\.small'` pass through unchanged.
// - Patterns with a repeated group that itself repeats (`(a+)+`) are rejected: every agent evaluates
//   them, and exponential backtracking would stall the fleet.

import { InvalidInputError } from './errors.js';

export const MAX_EXPRESSION_LENGTH = 2000;

// ---------------------------------------------------------------------------------------------
// AST

export type FieldName = 'ec2InstanceId' | 'registeredAt' | 'runningTasksCount' | 'agentConnected' | 'agentVersion';

export type Subject =
  { readonly kind: 'attribute'; readonly name: string } | { readonly kind: 'taskGroup' } | { readonly kind: 'field'; readonly field: FieldName };

export type ComparisonOperator = '==' | '!=' | '>' | '>=' | '<' | '<=' | '=~' | '!~' | 'in' | '!in' | 'exists' | '!exists';

export interface Comparison {
  readonly kind: 'comparison';
  readonly subject: Subject;
  readonly operator: ComparisonOperator;
  /** The argument(s) as written (quotes removed); one for scalar operators, none for exists. */
  readonly values: readonly string[];
  /** Compiled `^(?:pattern)$` for `=~` / `!~`. */
  readonly pattern?: RegExp;
  /** 1-based column of the subject in the source text. */
  readonly column: number;
}

export type Expression =
  | Comparison
  | { readonly kind: 'and'; readonly left: Expression; readonly right: Expression }
  | { readonly kind: 'or'; readonly left: Expression; readonly right: Expression }
  | { readonly kind: 'not'; readonly operand: Expression };

export class CqlSyntaxError extends Error {
  readonly column: number;
  /** The message without the ` at column N` suffix. */
  readonly reason: string;
  constructor(reason: string, column: number) {
    super(`${reason} at column ${column}`);
    this.name = 'CqlSyntaxError';
    this.reason = reason;
    this.column = column;
  }
}

export interface InstanceFacts {
  /** Attribute name to value; an attribute without a value is ''; undefined or missing = absent. */
  attributes: Record<string, string | undefined>;
  ec2InstanceId?: string;
  registeredAt?: Date;
  runningTasksCount?: number;
  /** Groups of the tasks running on the instance (`service:NAME`, `family:NAME` or custom). */
  taskGroups?: readonly string[];
  agentConnected?: boolean;
  agentVersion?: string;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

type TokenKind = 'word' | 'string' | 'op' | '(' | ')' | '[' | ']' | ',' | 'end';

interface Token {
  readonly kind: TokenKind;
  /** Word text, unquoted string content, or operator symbol. */
  readonly text: string;
  /** 1-based column of the token's first character. */
  readonly column: number;
  /** 1-based column just after the token (to tell `!in` from `! in`). */
  readonly endColumn: number;
}

const KNOWN_SYMBOLS = new Set(['==', '!=', '=~', '!~', '>', '>=', '<', '<=', '&&', '||', '!']);
const SYMBOL_CHARS = new Set(['=', '!', '~', '<', '>', '&', '|']);
const PUNCTUATION = new Set(['(', ')', '[', ']', ',']);

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

// A bare token is everything up to whitespace, punctuation, quotes or operator characters.
function isWordChar(c: string): boolean {
  return !isSpace(c) && !PUNCTUATION.has(c) && !SYMBOL_CHARS.has(c) && c !== "'" && c !== '"';
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const column = i + 1;
    if (isSpace(c)) {
      i++;
    } else if (PUNCTUATION.has(c)) {
      tokens.push({ kind: c as TokenKind, text: c, column, endColumn: column + 1 });
      i++;
    } else if (c === "'" || c === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new CqlSyntaxError(`unterminated string starting`, column);
        const d = text[j] as string;
        if (d === '\\' && (text[j + 1] === c || text[j + 1] === '\\')) {
          value += text[j + 1];
          j += 2;
        } else if (d === c) {
          j++;
          break;
        } else {
          value += d;
          j++;
        }
      }
      tokens.push({ kind: 'string', text: value, column, endColumn: j + 1 });
      i = j;
    } else if (SYMBOL_CHARS.has(c)) {
      let j = i;
      while (j < text.length && SYMBOL_CHARS.has(text[j] as string)) j++;
      const run = text.slice(i, j);
      if (KNOWN_SYMBOLS.has(run)) {
        tokens.push({ kind: 'op', text: run, column, endColumn: j + 1 });
      } else if (/^(&&|\|\|)?!+$/.test(run)) {
        // `&&!x`, `!!x`: a boolean operator followed by negations, written without spaces.
        let k = i;
        if (run.startsWith('&&') || run.startsWith('||')) {
          tokens.push({ kind: 'op', text: run.slice(0, 2), column, endColumn: column + 2 });
          k += 2;
        }
        for (; k < j; k++) tokens.push({ kind: 'op', text: '!', column: k + 1, endColumn: k + 2 });
      } else {
        throw new CqlSyntaxError(`unknown operator '${run}'`, column);
      }
      i = j;
    } else {
      let j = i;
      while (j < text.length && isWordChar(text[j] as string)) j++;
      tokens.push({ kind: 'word', text: text.slice(i, j), column, endColumn: j + 1 });
      i = j;
    }
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1, endColumn: text.length + 1 });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser

const WORD_OPERATORS: Record<string, ComparisonOperator> = {
  equals: '==',
  not_equals: '!=',
  greater_than: '>',
  greater_than_equal: '>=',
  less_than: '<',
  less_than_equal: '<=',
  exists: 'exists',
  not_exists: '!exists',
  in: 'in',
  not_in: '!in',
  matches: '=~',
  not_matches: '!~',
};

const SYMBOL_OPERATORS: Record<string, ComparisonOperator> = {
  '==': '==',
  '!=': '!=',
  '>': '>',
  '>=': '>=',
  '<': '<',
  '<=': '<=',
  '=~': '=~',
  '!~': '!~',
};

const EQUALITY: readonly ComparisonOperator[] = ['==', '!=', 'in', '!in', '=~', '!~'];
const ORDERING: readonly ComparisonOperator[] = ['==', '!=', '>', '>=', '<', '<='];

// Operators per non-attribute subject, as listed in the ECS documentation.
const FIELD_OPERATORS: Record<FieldName | 'task:group', readonly ComparisonOperator[]> = {
  ec2InstanceId: EQUALITY,
  agentConnected: EQUALITY,
  registeredAt: ORDERING,
  runningTasksCount: ORDERING,
  agentVersion: ORDERING,
  'task:group': [...EQUALITY, 'exists', '!exists'],
};

const FIELDS: ReadonlySet<string> = new Set<FieldName>(['ec2InstanceId', 'registeredAt', 'runningTasksCount', 'agentConnected', 'agentVersion']);

const ATTRIBUTE_NAME = /^[A-Za-z0-9_\-/\\.]{1,128}$/;
const DATE_VALUE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?)?$/;
const COUNT_VALUE = /^\d{1,15}$/;
const VERSION_VALUE = /^\d+(\.\d+)*$/;
const NUMBER_VALUE = /^-?\d+(\.\d+)?$/;

const SUBJECT_HELP = 'attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion';

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(text: string) {
    this.tokens = tokenize(text);
  }

  parse(): Expression {
    const expression = this.parseOr();
    const next = this.peek();
    if (next.kind !== 'end') {
      if (next.kind === ')') throw new CqlSyntaxError(`unmatched ')'`, next.column);
      throw new CqlSyntaxError(`expected 'and', 'or' or end of expression but found ${describe(next)}`, next.column);
    }
    return expression;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)] as Token;
  }

  private advance(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index++;
    return token;
  }

  private isBoolean(token: Token, word: string, symbol: string): boolean {
    return (token.kind === 'word' && token.text === word) || (token.kind === 'op' && token.text === symbol);
  }

  private parseOr(): Expression {
    let left = this.parseAnd();
    while (this.isBoolean(this.peek(), 'or', '||')) {
      this.advance();
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expression {
    let left = this.parseUnary();
    while (this.isBoolean(this.peek(), 'and', '&&')) {
      this.advance();
      left = { kind: 'and', left, right: this.parseUnary() };
    }
    return left;
  }

  private parseUnary(): Expression {
    const token = this.peek();
    if (this.isBoolean(token, 'not', '!')) {
      this.advance();
      return { kind: 'not', operand: this.parseUnary() };
    }
    if (token.kind === '(') {
      this.advance();
      const inner = this.parseOr();
      const close = this.peek();
      if (close.kind !== ')') {
        throw new CqlSyntaxError(`expected ')'${found(close)}`, close.column);
      }
      this.advance();
      return inner;
    }
    return this.parseComparison();
  }

  private parseSubject(): Subject {
    const token = this.advance();
    if (token.kind === 'end') throw new CqlSyntaxError('unexpected end of expression', token.column);
    if (token.kind !== 'word') throw new CqlSyntaxError(`expected a subject (${SUBJECT_HELP}) but found ${describe(token)}`, token.column);
    if (token.text.startsWith('attribute:')) {
      const name = token.text.slice('attribute:'.length);
      if (!ATTRIBUTE_NAME.test(name)) {
        throw new CqlSyntaxError(
          name === '' ? 'missing attribute name after attribute:' : `invalid attribute name '${name}' (1 to 128 letters, digits, '-', '_', '/', '\\' or '.')`,
          token.column,
        );
      }
      return { kind: 'attribute', name };
    }
    if (token.text === 'task:group') return { kind: 'taskGroup' };
    if (FIELDS.has(token.text)) return { kind: 'field', field: token.text as FieldName };
    throw new CqlSyntaxError(`unknown subject '${token.text}', expected ${SUBJECT_HELP}`, token.column);
  }

  private parseOperator(): { operator: ComparisonOperator; column: number } {
    const token = this.advance();
    const column = token.column;
    if (token.kind === 'end') throw new CqlSyntaxError('unexpected end of expression', column);
    if (token.kind === 'op') {
      const symbol = SYMBOL_OPERATORS[token.text];
      if (symbol !== undefined) return { operator: symbol, column };
      if (token.text === '!') {
        // `!in`, `!exists`: the word must follow the `!` directly.
        const next = this.peek();
        if (next.kind === 'word' && next.column === token.endColumn && (next.text === 'in' || next.text === 'exists')) {
          this.advance();
          return { operator: next.text === 'in' ? '!in' : '!exists', column };
        }
      }
      throw new CqlSyntaxError(`unknown operator '${token.text}'`, column);
    }
    if (token.kind === 'word') {
      if (token.text === 'not') {
        const next = this.peek();
        if (next.kind === 'word' && (next.text === 'in' || next.text === 'exists')) {
          this.advance();
          return { operator: next.text === 'in' ? '!in' : '!exists', column };
        }
        throw new CqlSyntaxError(`expected 'in' or 'exists' after 'not'${found(next)}`, next.column);
      }
      const named = Object.hasOwn(WORD_OPERATORS, token.text) ? WORD_OPERATORS[token.text] : undefined;
      if (named !== undefined) return { operator: named, column };
      throw new CqlSyntaxError(`unknown operator '${token.text}'`, column);
    }
    throw new CqlSyntaxError(`expected an operator but found ${describe(token)}`, column);
  }

  private parseValue(): { value: string; column: number } {
    const token = this.advance();
    if (token.kind === 'word' || token.kind === 'string') return { value: token.text, column: token.column };
    if (token.kind === 'end') throw new CqlSyntaxError('unexpected end of expression', token.column);
    throw new CqlSyntaxError(`expected a value but found ${describe(token)}`, token.column);
  }

  private parseComparison(): Comparison {
    const subjectColumn = this.peek().column;
    const subject = this.parseSubject();
    const { operator, column: operatorColumn } = this.parseOperator();
    const allowed = subject.kind === 'attribute' ? undefined : FIELD_OPERATORS[subject.kind === 'taskGroup' ? 'task:group' : subject.field];
    if (allowed !== undefined && !allowed.includes(operator)) {
      throw new CqlSyntaxError(`operator '${operator}' is not valid for ${subjectName(subject)}`, operatorColumn);
    }
    if (operator === 'exists' || operator === '!exists') {
      return { kind: 'comparison', subject, operator, values: [], column: subjectColumn };
    }
    if (operator === 'in' || operator === '!in') {
      const open = this.advance();
      if (open.kind !== '[') {
        throw new CqlSyntaxError(`expected '['${found(open)}`, open.column);
      }
      const values: string[] = [];
      for (;;) {
        const { value, column } = this.parseValue();
        checkValue(subject, operator, value, column);
        values.push(value);
        const separator = this.advance();
        if (separator.kind === ']') break;
        if (separator.kind === ',') continue;
        throw new CqlSyntaxError(separator.kind === 'end' ? `expected ']'` : `expected ',' or ']'${found(separator)}`, separator.column);
      }
      return { kind: 'comparison', subject, operator, values, column: subjectColumn };
    }
    const { value, column } = this.parseValue();
    checkValue(subject, operator, value, column);
    if (operator === '=~' || operator === '!~') {
      return { kind: 'comparison', subject, operator, values: [value], pattern: compilePattern(value, column), column: subjectColumn };
    }
    return { kind: 'comparison', subject, operator, values: [value], column: subjectColumn };
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of expression';
    case 'string':
      return `string '${token.text}'`;
    default:
      return `'${token.text}'`;
  }
}

function found(token: Token): string {
  return token.kind === 'end' ? '' : ` but found ${describe(token)}`;
}

function subjectName(subject: Subject): string {
  switch (subject.kind) {
    case 'attribute':
      return `attribute:${subject.name}`;
    case 'taskGroup':
      return 'task:group';
    case 'field':
      return subject.field;
  }
}

function compilePattern(pattern: string, column: number): RegExp {
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : String(error);
    throw new CqlSyntaxError(`invalid pattern '${pattern}' (${detail})`, column);
  }
  if (hasNestedQuantifier(pattern)) {
    throw new CqlSyntaxError(`pattern '${pattern}' repeats a group that itself repeats, which can take exponential time`, column);
  }
  return regex;
}

/**
 * True for `(a+)+`, `(.*)*`, `((ab)*x)+`...: an unbounded quantifier applied to a group that contains
 * one. Every agent evaluates these patterns, so one catastrophic-backtracking pattern could stall the
 * whole fleet; this catches the classic shape (overlapping alternations such as `(a|a)*` remain).
 * Runs only on patterns that already compiled, so brackets and escapes are well formed.
 */
function hasNestedQuantifier(pattern: string): boolean {
  const groups: boolean[] = [false]; // per open group (index 0: top level): contains an unbounded quantifier
  const isUnbounded = (i: number): boolean => {
    const c = pattern[i];
    return c === '*' || c === '+' || (c === '{' && /^\{\d*,\d*\}/.test(pattern.slice(i)));
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
    } else if (c === '(') {
      groups.push(false);
    } else if (c === ')') {
      const inner = groups.pop() ?? false;
      const repeated = isUnbounded(i + 1);
      if (inner && repeated) return true;
      groups[groups.length - 1] ||= inner || repeated;
    } else if (isUnbounded(i)) {
      groups[groups.length - 1] = true;
    }
  }
  return false;
}

/** Typed subjects reject values they could never compare, so mistakes surface at parse time. */
function checkValue(subject: Subject, operator: ComparisonOperator, value: string, column: number): void {
  if (subject.kind !== 'field' || operator === '=~' || operator === '!~') return;
  switch (subject.field) {
    case 'registeredAt':
      if (parseDate(value) === undefined) {
        throw new CqlSyntaxError(`invalid date '${value}' (use 2018-06-18, 2018-06-18T22:28:28, ...Z or ...+00:00)`, column);
      }
      return;
    case 'runningTasksCount':
      if (!COUNT_VALUE.test(value)) throw new CqlSyntaxError(`expected a whole number but found '${value}'`, column);
      return;
    case 'agentVersion':
      if (!VERSION_VALUE.test(value)) throw new CqlSyntaxError(`invalid version '${value}' (expected digits separated by '.')`, column);
      return;
    case 'agentConnected':
      if (value !== 'true' && value !== 'false') throw new CqlSyntaxError(`expected true or false but found '${value}'`, column);
      return;
    case 'ec2InstanceId':
      return;
  }
}

/** Milliseconds since the epoch, or undefined for a malformed or impossible date (2018-02-30). */
function parseDate(value: string): number | undefined {
  const m = DATE_VALUE.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(4, 6));
    if (zh > 23 || zm > 59) return undefined;
    offsetMinutes = sign * (zh * 60 + zm);
  }
  const millis = fraction === '' ? 0 : Math.floor(Number(`0${fraction}`) * 1000);
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/** Parses a CQL expression; throws CqlSyntaxError with a 1-based column. The result is immutable. */
export function parseExpression(text: string): Expression {
  if (typeof text !== 'string') throw new CqlSyntaxError('expression must be a string', 1);
  if (text.length > MAX_EXPRESSION_LENGTH) {
    throw new CqlSyntaxError(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, MAX_EXPRESSION_LENGTH + 1);
  }
  return deepFreeze(new Parser(text).parse());
}

function deepFreeze(expression: Expression): Expression {
  switch (expression.kind) {
    case 'and':
    case 'or':
      deepFreeze(expression.left);
      deepFreeze(expression.right);
      break;
    case 'not':
      deepFreeze(expression.operand);
      break;
    case 'comparison':
      Object.freeze(expression.subject);
      Object.freeze(expression.values);
      break;
  }
  return Object.freeze(expression);
}

// ---------------------------------------------------------------------------------------------
// Evaluator

export function evaluate(expression: Expression, facts: InstanceFacts): boolean {
  switch (expression.kind) {
    case 'and':
      return evaluate(expression.left, facts) && evaluate(expression.right, facts);
    case 'or':
      return evaluate(expression.left, facts) || evaluate(expression.right, facts);
    case 'not':
      return !evaluate(expression.operand, facts);
    case 'comparison':
      return evaluateComparison(expression, facts);
  }
}

const NEGATION: Partial<Record<ComparisonOperator, ComparisonOperator>> = {
  '!=': '==',
  '!~': '=~',
  '!in': 'in',
  '!exists': 'exists',
};

function evaluateComparison(comparison: Comparison, facts: InstanceFacts): boolean {
  const positive = NEGATION[comparison.operator];
  if (positive !== undefined) return !holds(comparison, positive, facts);
  return holds(comparison, comparison.operator, facts);
}

/** The subject's current values: none when absent; several only for task:group. */
function valuesOf(subject: Subject, facts: InstanceFacts): readonly (string | number | boolean)[] {
  switch (subject.kind) {
    case 'attribute': {
      const attributes = facts.attributes ?? {}; // tolerate callers that omit it
      // Own properties only: `attribute:constructor` must not find Object.prototype.constructor.
      const value = Object.hasOwn(attributes, subject.name) ? attributes[subject.name] : undefined;
      return typeof value === 'string' ? [value] : [];
    }
    case 'taskGroup':
      return facts.taskGroups ?? [];
    case 'field': {
      switch (subject.field) {
        case 'ec2InstanceId':
          return facts.ec2InstanceId === undefined ? [] : [facts.ec2InstanceId];
        case 'registeredAt': {
          const time = facts.registeredAt?.getTime();
          return time === undefined || Number.isNaN(time) ? [] : [time];
        }
        case 'runningTasksCount':
          return facts.runningTasksCount === undefined ? [] : [facts.runningTasksCount];
        case 'agentConnected':
          return facts.agentConnected === undefined ? [] : [facts.agentConnected];
        case 'agentVersion':
          return facts.agentVersion === undefined ? [] : [facts.agentVersion];
      }
    }
  }
}

/** Evaluates a positive operator: true when any of the subject's values satisfies it. */
function holds(comparison: Comparison, operator: ComparisonOperator, facts: InstanceFacts): boolean {
  const actual = valuesOf(comparison.subject, facts);
  if (operator === 'exists') return actual.length > 0;
  return actual.some((value) => {
    const text = String(value);
    switch (operator) {
      case '=~':
        return (comparison.pattern as RegExp).test(text);
      case 'in':
        return comparison.values.some((expected) => compare(comparison.subject, value, expected) === 0);
      default: {
        const order = compare(comparison.subject, value, comparison.values[0] as string);
        switch (operator) {
          case '==':
            return order === 0;
          case '>':
            return order !== undefined && order > 0;
          case '>=':
            return order !== undefined && order >= 0;
          case '<':
            return order !== undefined && order < 0;
          case '<=':
            return order !== undefined && order <= 0;
          default:
            return false;
        }
      }
    }
  });
}

/** Sign of (actual - expected) in the subject's domain; undefined when incomparable. */
function compare(subject: Subject, actual: string | number | boolean, expected: string): number | undefined {
  if (subject.kind === 'field') {
    switch (subject.field) {
      case 'registeredAt': {
        const time = parseDate(expected);
        return time === undefined ? undefined : Math.sign((actual as number) - time);
      }
      case 'runningTasksCount':
        return Math.sign((actual as number) - Number(expected));
      case 'agentVersion':
        return compareVersions(String(actual), expected);
      default:
        return String(actual) === expected ? 0 : String(actual) < expected ? -1 : 1;
    }
  }
  const text = String(actual);
  if (NUMBER_VALUE.test(text) && NUMBER_VALUE.test(expected)) return Math.sign(Number(text) - Number(expected));
  return text === expected ? 0 : text < expected ? -1 : 1;
}

function compareVersions(actual: string, expected: string): number | undefined {
  // Agent versions may carry a suffix (`1.14.5-dev`); compare the leading numeric parts.
  const head = /^\d+(\.\d+)*/.exec(actual);
  if (head === null) return undefined;
  const a = head[0].split('.').map(Number);
  const b = expected.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Convenience entry points

const CACHE_LIMIT = 256;
const cache = new Map<string, Expression>();

/** Parses (through a small LRU cache) and evaluates. Throws CqlSyntaxError for a bad expression. */
export function matches(text: string, facts: InstanceFacts): boolean {
  let expression = cache.get(text);
  if (expression === undefined) {
    expression = parseExpression(text);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  } else {
    cache.delete(text); // re-inserted below as most recently used
  }
  cache.set(text, expression);
  return evaluate(expression, facts);
}

/** Throws InvalidInputError(field, "<message> at column N") from core/errors.ts for a bad expression. */
export function validateExpression(text: string, field: string): void {
  if (typeof text !== 'string') throw new InvalidInputError(field, 'must be a string');
  try {
    parseExpression(text);
  } catch (error) {
    if (error instanceof CqlSyntaxError) throw new InvalidInputError(field, error.message);
    throw error;
  }
}

/** Canonical text of an expression (fully parenthesised); parsing it yields an equal expression. */
export function formatExpression(expression: Expression): string {
  switch (expression.kind) {
    case 'and':
    case 'or':
      return `(${formatExpression(expression.left)} ${expression.kind} ${formatExpression(expression.right)})`;
    case 'not':
      return `not (${formatExpression(expression.operand)})`;
    case 'comparison': {
      const subject = subjectName(expression.subject);
      const values = expression.values.map(quote);
      switch (expression.operator) {
        case 'exists':
        case '!exists':
          return `${subject} ${expression.operator}`;
        case 'in':
        case '!in':
          return `${subject} ${expression.operator} [${values.join(', ')}]`;
        default:
          return `${subject} ${expression.operator} ${values[0] ?? "''"}`;
      }
    }
  }
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
