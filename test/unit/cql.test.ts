import { describe, expect, it } from 'vitest';
import { CqlSyntaxError, MAX_EXPRESSION_LENGTH, evaluate, formatExpression, matches, parseExpression, validateExpression } from '../../core/cql.js';
import type { Expression, InstanceFacts } from '../../core/cql.js';
import { InvalidInputError } from '../../core/errors.js';
import { pick, seeded } from '../support/prng.js';

const t2SmallInUsEast1a: InstanceFacts = {
  attributes: {
    'ecs.instance-type': 't2.small',
    'ecs.availability-zone': 'us-east-1a',
    'ecs.ami-id': 'ami-1234abcd',
    'ecs.os-type': 'linux',
    'ecs.cpu-architecture': 'x86_64',
    stack: 'prod',
  },
  ec2InstanceId: 'i-abcd1234',
  registeredAt: new Date('2018-02-01T10:00:00Z'),
  runningTasksCount: 1,
  taskGroups: ['service:production', 'family:logs'],
  agentConnected: true,
  agentVersion: '1.14.4',
};

const g2InUsEast1d: InstanceFacts = {
  attributes: {
    'ecs.instance-type': 'g2.2xlarge',
    'ecs.availability-zone': 'us-east-1d',
    'ecs.os-type': 'linux',
    'ecs.cpu-architecture': 'x86_64',
    stack: 'dev',
  },
  ec2InstanceId: 'i-00000001',
  registeredAt: new Date('2019-06-01T00:00:00Z'),
  runningTasksCount: 3,
  taskGroups: ['database'],
  agentConnected: false,
  agentVersion: '1.70.0',
};

const g2InUsEast1b: InstanceFacts = {
  ...g2InUsEast1d,
  attributes: { ...g2InUsEast1d.attributes, 'ecs.availability-zone': 'us-east-1b' },
  taskGroups: [],
};

function syntaxError(text: string): CqlSyntaxError {
  try {
    parseExpression(text);
  } catch (error) {
    if (error instanceof CqlSyntaxError) return error;
    throw error;
  }
  throw new Error(`expected a CqlSyntaxError for: ${text}`);
}

function facts(attributes: Record<string, string | undefined>, rest: Omit<InstanceFacts, 'attributes'> = {}): InstanceFacts {
  return { attributes, ...rest };
}

describe('every example expression of the ECS documentation', () => {
  // Cluster query language page (expression-examples), task placement constraints page (filter and
  // constraint examples), and examples from the project issue; each with an instance it selects
  // and one it does not.
  const examples: { expression: string; selects: InstanceFacts; rejects: InstanceFacts }[] = [
    { expression: 'attribute:ecs.instance-type == t2.small', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:ecs.availability-zone in [us-east-1a, us-east-1b]', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d', selects: g2InUsEast1b, rejects: g2InUsEast1d },
    { expression: 'task:group == service:production', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'not(task:group == database)', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'runningTasksCount == 1', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'agentVersion < 1.14.5', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'registeredAt < 2018-02-13', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: "ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:ecs.instance-type == g2.2xlarge', selects: g2InUsEast1d, rejects: t2SmallInUsEast1a },
    { expression: 'attribute:stack == prod', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:stack != prod', selects: g2InUsEast1d, rejects: t2SmallInUsEast1a },
    { expression: 'attribute:ecs.instance-type in [t2.small, t2.medium]', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'attribute:ecs.instance-type =~ t2.*', selects: t2SmallInUsEast1a, rejects: g2InUsEast1d },
    { expression: 'task:group == databases', selects: facts({}, { taskGroups: ['databases'] }), rejects: g2InUsEast1d },
    {
      expression: '(attribute:ecs.instance-type =~ t2.* or attribute:ecs.instance-type =~ g2.*) and attribute:ecs.availability-zone == us-east-1d',
      selects: g2InUsEast1d,
      rejects: t2SmallInUsEast1a,
    },
    { expression: 'registeredAt >= 2015-12-31T23:59:59', selects: t2SmallInUsEast1a, rejects: facts({}, { registeredAt: new Date('2015-01-01T00:00:00Z') }) },
    { expression: 'not(attribute:ecs.instance-type =~ t2.small)', selects: g2InUsEast1d, rejects: t2SmallInUsEast1a },
  ];

  it.each(examples)('$expression', ({ expression, selects, rejects }) => {
    expect(matches(expression, selects)).toBe(true);
    expect(matches(expression, rejects)).toBe(false);
  });

  it('parses the documented precedence example, (expression1 or expression2) and expression3', () => {
    const parsed = parseExpression('(attribute:a exists or attribute:b exists) and attribute:c exists');
    expect(parsed.kind).toBe('and');
    expect(formatExpression(parsed)).toBe('((attribute:a exists or attribute:b exists) and attribute:c exists)');
  });

  it('accepts every documented registeredAt date format', () => {
    for (const value of ['2018-06-18T22:28:28+00:00', '2018-06-18T22:28:28Z', '2018-06-18T22:28:28', '2018-06-18']) {
      expect(matches(`registeredAt > ${value}`, facts({}, { registeredAt: new Date('2018-06-19T00:00:01Z') }))).toBe(true);
      expect(matches(`registeredAt > ${value}`, facts({}, { registeredAt: new Date('2018-06-17T00:00:00Z') }))).toBe(false);
    }
  });
});

describe('attribute comparisons', () => {
  const instance = facts({ 'ecs.instance-type': 't2.small', 'ecs.os-type': 'linux', size: '10', capability: '' });
  const cases: [string, boolean][] = [
    ['attribute:ecs.instance-type == t2.small', true],
    ['attribute:ecs.instance-type == t2.medium', false],
    ['attribute:ecs.instance-type equals t2.small', true],
    ["attribute:ecs.instance-type == 't2.small'", true],
    ['attribute:ecs.instance-type == "t2.small"', true],
    ['attribute:ecs.instance-type != t2.small', false],
    ['attribute:ecs.instance-type not_equals t2.medium', true],
    ['attribute:ecs.instance-type =~ t2.*', true],
    ['attribute:ecs.instance-type matches t2.*', true],
    ['attribute:ecs.instance-type =~ t2', false], // whole-value match, not substring
    ['attribute:ecs.instance-type =~ small', false],
    ["attribute:ecs.instance-type =~ 't2\\.(small|medium)'", true],
    ['attribute:ecs.instance-type !~ m5.*', true],
    ['attribute:ecs.instance-type not_matches t2.*', false],
    ['attribute:ecs.instance-type in [t2.micro, t2.small]', true],
    ['attribute:ecs.instance-type in [t2.micro]', false],
    ['attribute:ecs.instance-type not in [t2.micro]', true],
    ['attribute:ecs.instance-type !in [t2.small]', false],
    ['attribute:ecs.instance-type not_in [t2.small, m5.large]', false],
    ['attribute:ecs.os-type exists', true],
    ['attribute:ecs.os-type !exists', false],
    ['attribute:ecs.os-type not_exists', false],
    ['attribute:ecs.os-type not exists', false],
    ['attribute:capability exists', true], // present without a value
    ["attribute:capability == ''", true],
    ['attribute:size > 9', true], // numeric, not string, order ('10' < '9' as strings)
    ['attribute:size greater_than 10', false],
    ['attribute:size >= 10', true],
    ['attribute:size < 100', true],
    ['attribute:size <= 9.5', false],
    ['attribute:size less_than_equal 10', true],
    ['attribute:ecs.os-type > linu', true], // string order when not both numbers
    ['attribute:ecs.os-type < windows', true],
  ];
  it.each(cases)('%s is %s', (expression, expected) => {
    expect(matches(expression, instance)).toBe(expected);
  });
});

describe('an absent attribute (documented semantics others rely on)', () => {
  const empty = facts({ present: 'x', unset: undefined });
  const cases: [string, boolean][] = [
    ['attribute:missing == x', false],
    ['attribute:missing =~ .*', false],
    ['attribute:missing in [x]', false],
    ['attribute:missing > 0', false],
    ['attribute:missing <= 0', false],
    ['attribute:missing exists', false],
    ['attribute:missing != x', true],
    ['attribute:missing !~ .*', true],
    ['attribute:missing not in [x]', true],
    ['attribute:missing !exists', true],
    ['attribute:unset exists', false], // an undefined value is absent
    ['attribute:unset != x', true],
  ];
  it.each(cases)('%s is %s', (expression, expected) => {
    expect(matches(expression, empty)).toBe(expected);
  });

  it('does not find inherited Object properties as attributes', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(matches(`attribute:${name} exists`, facts({}))).toBe(false);
    }
    expect(matches('attribute:toString exists', facts({ toString: 'yes' }))).toBe(true);
  });
});

describe('task:group', () => {
  const cases: [string, readonly string[] | undefined, boolean][] = [
    ['task:group == database', ['web', 'database'], true],
    ['task:group == database', ['web'], false],
    ['task:group == database', undefined, false],
    ['task:group != database', ['web', 'database'], false], // no task in the group
    ['task:group != database', ['web'], true],
    ['task:group != database', undefined, true],
    ['task:group in [a, database]', ['database'], true],
    ['task:group not in [a, database]', ['database'], false],
    ['task:group =~ service:.*', ['family:x', 'service:api'], true],
    ['task:group =~ service:.*', ['family:x'], false],
    ['task:group !~ service:.*', ['family:x'], true],
    ['task:group exists', ['family:x'], true],
    ['task:group exists', [], false],
    ['task:group !exists', undefined, true],
  ];
  it.each(cases)('%s with groups %j is %s', (expression, taskGroups, expected) => {
    expect(matches(expression, taskGroups === undefined ? facts({}) : facts({}, { taskGroups }))).toBe(expected);
  });
});

describe('instance fields', () => {
  const instance = facts(
    {},
    {
      ec2InstanceId: 'i-0abc',
      registeredAt: new Date('2018-06-18T22:28:28Z'),
      runningTasksCount: 2,
      agentConnected: true,
      agentVersion: '1.14.5',
    },
  );
  const cases: [string, boolean][] = [
    ['ec2InstanceId == i-0abc', true],
    ["ec2InstanceId != 'i-0abc'", false],
    ['ec2InstanceId =~ i-0.*', true],
    ['ec2InstanceId !~ i-0.*', false],
    ['ec2InstanceId not in [i-1, i-2]', true],
    ['registeredAt == 2018-06-18T22:28:28Z', true],
    ['registeredAt == 2018-06-18T22:28:28', true], // no zone means UTC
    ['registeredAt == 2018-06-19T00:28:28+02:00', true],
    ['registeredAt == 2018-06-18', false], // an instant, not a day
    ['registeredAt != 2018-06-18', true],
    ['registeredAt > 2018-06-18', true],
    ['registeredAt >= 2018-06-18T22:28:28.000Z', true],
    ['registeredAt < 2018-06-18T22:28:29Z', true],
    ['registeredAt <= 2018-06-18T22:28:27Z', false],
    ['runningTasksCount == 2', true],
    ['runningTasksCount != 2', false],
    ['runningTasksCount > 1', true],
    ['runningTasksCount >= 3', false],
    ['runningTasksCount < 10', true], // numeric, not string, order
    ['runningTasksCount <= 1', false],
    ['agentConnected == true', true],
    ['agentConnected != true', false],
    ['agentConnected in [false]', false],
    ['agentVersion == 1.14.5', true],
    ['agentVersion < 1.14.10', true], // numeric parts: 5 < 10
    ['agentVersion > 1.9', true],
    ['agentVersion >= 1.14.5.0', true],
  ];
  it.each(cases)('%s is %s', (expression, expected) => {
    expect(matches(expression, instance)).toBe(expected);
  });

  it('treats fields missing from the facts as absent', () => {
    const none = facts({});
    expect(matches('runningTasksCount == 0', none)).toBe(false);
    expect(matches('runningTasksCount != 0', none)).toBe(true);
    expect(matches('registeredAt > 2000-01-01', none)).toBe(false);
    expect(matches('registeredAt > 2000-01-01', facts({}, { registeredAt: new Date(Number.NaN) }))).toBe(false);
    expect(matches('ec2InstanceId in [i-1]', none)).toBe(false);
    expect(matches('agentVersion < 9', none)).toBe(false);
  });

  it('compares agent versions with a suffix by their numeric part', () => {
    expect(matches('agentVersion < 1.15', facts({}, { agentVersion: '1.14.5-dev' }))).toBe(true);
  });
});

describe('boolean structure', () => {
  const a = facts({ a: '1' });
  const cases: [string, boolean][] = [
    ['attribute:a exists and attribute:b exists', false],
    ['attribute:a exists && attribute:b exists', false],
    ['attribute:a exists or attribute:b exists', true],
    ['attribute:a exists || attribute:b exists', true],
    ['not attribute:a exists', false],
    ['!attribute:a exists', false],
    ['! attribute:b exists', true],
    ['!!attribute:a exists', true],
    ['not not attribute:a exists', true],
    ['attribute:a exists&&!attribute:b exists', true],
    ['attribute:a==1', true],
    // `and` binds tighter than `or`: true or (false and false)
    ['attribute:a exists or attribute:b exists and attribute:c exists', true],
    ['(attribute:a exists or attribute:b exists) and attribute:c exists', false],
    // `not` binds tighter than `and`: (not a) and b
    ['not attribute:a exists and attribute:b exists', false],
    ['not (attribute:b exists and attribute:c exists)', true],
    ['((((attribute:a == 1))))', true],
  ];
  it.each(cases)('%s is %s', (expression, expected) => {
    expect(matches(expression, a)).toBe(expected);
  });

  it('groups and/or to the left and nests not', () => {
    expect(formatExpression(parseExpression('attribute:a exists or attribute:b exists or attribute:c exists'))).toBe(
      '((attribute:a exists or attribute:b exists) or attribute:c exists)',
    );
    expect(formatExpression(parseExpression('!attribute:a exists and attribute:b == x'))).toBe("(not (attribute:a exists) and attribute:b == 'x')");
  });
});

describe('values and names', () => {
  it('accepts attribute names with every character ECS allows', () => {
    const name = 'com.amazonaws/ecs_capability\\docker-remote-api.1.19';
    expect(matches(`attribute:${name} == 'v'`, facts({ [name]: 'v' }))).toBe(true);
  });

  it('reads quoted values with spaces, commas, brackets and escaped quotes', () => {
    const instance = facts({ team: "a, b [it's]", path: 'C:\\x' });
    expect(matches(`attribute:team == "a, b [it's]"`, instance)).toBe(true);
    expect(matches("attribute:team == 'a, b [it\\'s]'", instance)).toBe(true);
    expect(matches("attribute:team in ['x', \"a, b [it's]\"]", instance)).toBe(true);
    expect(matches("attribute:path == 'C:\\\\x'", instance)).toBe(true);
  });

  it('reads unquoted values with colons, at signs and slashes', () => {
    const instance = facts({ owner: 'team@example.com', arn: 'arn:aws:ecs:us-east-1:1:cluster/prod' });
    expect(matches('attribute:owner == team@example.com', instance)).toBe(true);
    expect(matches('attribute:arn == arn:aws:ecs:us-east-1:1:cluster/prod', instance)).toBe(true);
  });

  it('keeps the argument list as written, in order', () => {
    const parsed = parseExpression('attribute:x in [b, \'a\', "c d"]');
    expect(parsed).toMatchObject({ kind: 'comparison', operator: 'in', values: ['b', 'a', 'c d'], subject: { kind: 'attribute', name: 'x' } });
  });

  it('returns an immutable expression (it is shared through the cache)', () => {
    const parsed = parseExpression('attribute:x in [a]');
    expect(Object.isFrozen(parsed)).toBe(true);
    if (parsed.kind !== 'comparison') throw new Error('expected a comparison');
    expect(Object.isFrozen(parsed.values)).toBe(true);
    expect(Object.isFrozen(parsed.subject)).toBe(true);
  });

  it('accepts an expression of exactly the maximum length', () => {
    const prefix = 'attribute:x == ';
    const text = prefix + 'v'.repeat(MAX_EXPRESSION_LENGTH - prefix.length);
    expect(text.length).toBe(2000);
    expect(matches(text, facts({ x: 'v'.repeat(MAX_EXPRESSION_LENGTH - prefix.length) }))).toBe(true);
  });
});

describe('syntax errors name the problem and its 1-based column', () => {
  const cases: [string, string][] = [
    ['attribute:ecs.availability-zone in [us-east-1a, us-east-1b', "expected ']' at column 59"],
    ['attribute:ecs.availability-zone in [us-east-1a us-east-1b]', "expected ',' or ']' but found 'us-east-1b' at column 48"],
    ['attribute:x', 'unexpected end of expression at column 12'],
    ['attribute:x ==', 'unexpected end of expression at column 15'],
    ['attribute:x == a and', 'unexpected end of expression at column 21'],
    ['', 'unexpected end of expression at column 1'],
    ['   ', 'unexpected end of expression at column 4'],
    ['attribute:ecs.os-type => linux', "unknown operator '=>' at column 23"],
    ['attribute:x = a', "unknown operator '=' at column 13"],
    ['attribute:x <> a', "unknown operator '<>' at column 13"],
    ['attribute:x === a', "unknown operator '===' at column 13"],
    ['attribute:x contains a', "unknown operator 'contains' at column 13"],
    ['attribute:x ! a', "unknown operator '!' at column 13"],
    ['attribute:x ! in [a]', "unknown operator '!' at column 13"],
    ['attribute:x not a', "expected 'in' or 'exists' after 'not' but found 'a' at column 17"],
    ['attribute:x in a', "expected '[' but found 'a' at column 16"],
    ['attribute:x in []', "expected a value but found ']' at column 17"],
    ['attribute:x in [a,]', "expected a value but found ']' at column 19"],
    ['attribute:x == (a)', "expected a value but found '(' at column 16"],
    ['(attribute:x == a', "expected ')' at column 18"],
    ['(attribute:x == a b', "expected ')' but found 'b' at column 19"],
    ['attribute:x == a)', "unmatched ')' at column 17"],
    ['attribute:x == a b', "expected 'and', 'or' or end of expression but found 'b' at column 18"],
    [
      'instanceType == t2.small',
      "unknown subject 'instanceType', expected attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion at column 1",
    ],
    [
      'Attribute:x exists',
      "unknown subject 'Attribute:x', expected attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion at column 1",
    ],
    ['attribute: exists', 'missing attribute name after attribute: at column 1'],
    [
      'x == 1 and attribute:a@b exists',
      "unknown subject 'x', expected attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion at column 1",
    ],
    ['attribute:a exists and attribute:a@b exists', "invalid attribute name 'a@b' (1 to 128 letters, digits, '-', '_', '/', '\\' or '.') at column 24"],
    [`attribute:${'n'.repeat(129)} exists`, `invalid attribute name '${'n'.repeat(129)}' (1 to 128 letters, digits, '-', '_', '/', '\\' or '.') at column 1`],
    ["attribute:x == 'abc", 'unterminated string starting at column 16'],
    ['runningTasksCount == one', "expected a whole number but found 'one' at column 22"],
    ['runningTasksCount in [1]', "operator 'in' is not valid for runningTasksCount at column 19"],
    ['runningTasksCount exists', "operator 'exists' is not valid for runningTasksCount at column 19"],
    ['registeredAt > yesterday', "invalid date 'yesterday' (use 2018-06-18, 2018-06-18T22:28:28, ...Z or ...+00:00) at column 16"],
    ['registeredAt > 2018-02-30', "invalid date '2018-02-30' (use 2018-06-18, 2018-06-18T22:28:28, ...Z or ...+00:00) at column 16"],
    ['registeredAt =~ 2018.*', "operator '=~' is not valid for registeredAt at column 14"],
    ['ec2InstanceId > i-1', "operator '>' is not valid for ec2InstanceId at column 15"],
    ['agentVersion < latest', "invalid version 'latest' (expected digits separated by '.') at column 16"],
    ['agentConnected == yes', "expected true or false but found 'yes' at column 19"],
    ['task:group >= a', "operator '>=' is not valid for task:group at column 12"],
    [
      'AND attribute:x exists',
      "unknown subject 'AND', expected attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion at column 1",
    ],
    ['attribute:x exists and', 'unexpected end of expression at column 23'],
    [
      '== a',
      "expected a subject (attribute:<name>, task:group, ec2InstanceId, registeredAt, runningTasksCount, agentConnected or agentVersion) but found '==' at column 1",
    ],
  ];
  it.each(cases)('%s', (expression, message) => {
    const error = syntaxError(expression);
    expect(error.message).toBe(message);
    expect(error.column).toBe(Number(/at column (\d+)$/.exec(message)?.[1]));
    expect(error.name).toBe('CqlSyntaxError');
  });

  it('rejects a pattern that is not a valid regular expression, pointing at the pattern', () => {
    // The detail after the pattern comes from the JavaScript regex engine.
    const unterminated = syntaxError("attribute:x =~ 't2.('");
    expect(unterminated.message).toMatch(/^invalid pattern 't2\.\(' \(.*Unterminated group\) at column 16$/);
    expect(unterminated.column).toBe(16);
    // A glob-style leading `*` is not a regular expression (ECS documents Java regex syntax).
    const glob = syntaxError('attribute:x == a or attribute:x =~ *.large');
    expect(glob.message).toMatch(/^invalid pattern '\*\.large' \(.*Nothing to repeat\) at column 36$/);
  });

  it.each(['(a+)+', '(.*)*', '((ab)*x)+', '(a|b+){2,}', '([a-z]+\\.)+com'])(
    'rejects the nested-quantifier pattern %s (conservative: exponential backtracking shape)',
    (pattern) => {
      const error = syntaxError(`attribute:host =~ '${pattern}'`);
      expect(error.message).toBe(`pattern '${pattern}' repeats a group that itself repeats, which can take exponential time at column 19`);
    },
  );

  it.each(['(t2|m5).*', '(ab)+', '(a+)?x', '[(+]+', '\\(a+\\)+', '(a{2})+', 't2\\..*'])('accepts the linear-time pattern %s', (pattern) => {
    expect(() => parseExpression(`attribute:host =~ '${pattern}'`)).not.toThrow();
  });

  it('rejects an expression longer than 2000 characters at column 2001', () => {
    const text = `attribute:x == ${'v'.repeat(MAX_EXPRESSION_LENGTH)}`;
    const error = syntaxError(text);
    expect(error.message).toBe('expression is longer than 2000 characters at column 2001');
    expect(error.column).toBe(2001);
  });

  it('gives the reason without the column separately', () => {
    expect(syntaxError('attribute:x').reason).toBe('unexpected end of expression');
  });

  it('makes matches throw the same error', () => {
    expect(() => matches('attribute:x ==', facts({}))).toThrow(CqlSyntaxError);
    expect(() => matches('attribute:x ==', facts({}))).toThrow('unexpected end of expression at column 15');
  });
});

describe('validateExpression', () => {
  it('accepts a valid expression', () => {
    expect(() => validateExpression('attribute:ecs.instance-type =~ t2.*', 'instanceGroup.expression')).not.toThrow();
  });

  it('throws InvalidInputError naming the field and the column', () => {
    let caught: unknown;
    try {
      validateExpression('attribute:ecs.os-type => linux', 'instanceGroup.expression');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    const error = caught as InvalidInputError;
    expect(error.field).toBe('instanceGroup.expression');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toBe("instanceGroup.expression: unknown operator '=>' at column 23");
  });

  it('rejects a value that is not a string (JSON input)', () => {
    expect(() => validateExpression(42 as unknown as string, 'filter')).toThrow(InvalidInputError);
    expect(() => validateExpression(42 as unknown as string, 'filter')).toThrow('filter: must be a string');
  });
});

describe('matches cache', () => {
  it('gives the same answers when more expressions are used than the cache holds', () => {
    const instance = facts({ n: '150' });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        expect(matches(`attribute:n == ${i}`, instance)).toBe(i === 150);
      }
    }
  });

  it('treats facts without an attributes map as having no attributes', () => {
    expect(matches('attribute:x exists', {} as InstanceFacts)).toBe(false);
  });

  it('does not let one evaluation change another instance’s answer', () => {
    expect(matches('attribute:z == 1', facts({ z: '1' }))).toBe(true);
    expect(matches('attribute:z == 1', facts({ z: '2' }))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property-style tests with a seeded PRNG: random expressions over a small vocabulary, random instances.

const NAMES = ['ecs.instance-type', 'ecs.availability-zone', 'stack', 'n'];
const VALUES = ['t2.small', 'g2.2xlarge', 'us-east-1a', 'prod', '1', '10', '2', ''];
const PATTERNS = ['t2.*', '.*', 'us-east-1[ab]', 'prod|dev', '1.*'];
const GROUPS = ['service:api', 'database', 'family:logs'];

function randomComparison(random: () => number): string {
  const quoted = (v: string): string => `'${v}'`;
  const roll = random();
  if (roll < 0.1) return `task:group ${pick(random, ['==', '!=', '=~', '!~'])} ${quoted(pick(random, [...GROUPS, 'service:.*']))}`;
  if (roll < 0.2) return `runningTasksCount ${pick(random, ['==', '!=', '>', '>=', '<', '<='])} ${Math.floor(random() * 4)}`;
  if (roll < 0.25) return `registeredAt ${pick(random, ['>', '<='])} 2020-01-0${1 + Math.floor(random() * 3)}`;
  const subject = `attribute:${pick(random, NAMES)}`;
  const operator = pick(random, ['==', '!=', '=~', '!~', 'in', 'not in', '!in', 'exists', '!exists', '>', '<=']);
  switch (operator) {
    case 'exists':
    case '!exists':
      return `${subject} ${operator}`;
    case 'in':
    case 'not in':
    case '!in':
      return `${subject} ${operator} [${quoted(pick(random, VALUES))}, ${quoted(pick(random, VALUES))}]`;
    case '=~':
    case '!~':
      return `${subject} ${operator} ${quoted(pick(random, PATTERNS))}`;
    default:
      return `${subject} ${operator} ${quoted(pick(random, VALUES))}`;
  }
}

function randomExpression(random: () => number, depth: number): string {
  const roll = random();
  if (depth <= 0 || roll < 0.35) return randomComparison(random);
  if (roll < 0.5) return `not (${randomExpression(random, depth - 1)})`;
  const connective = pick(random, ['and', 'or', '&&', '||']);
  return `(${randomExpression(random, depth - 1)}) ${connective} (${randomExpression(random, depth - 1)})`;
}

function randomFacts(random: () => number): InstanceFacts {
  const attributes: Record<string, string | undefined> = {};
  for (const name of NAMES) {
    const roll = random();
    if (roll < 0.6) attributes[name] = pick(random, VALUES);
    else if (roll < 0.7) attributes[name] = undefined;
  }
  return {
    attributes,
    taskGroups: GROUPS.filter(() => random() < 0.4),
    runningTasksCount: random() < 0.8 ? Math.floor(random() * 4) : undefined,
    registeredAt: random() < 0.8 ? new Date(Date.UTC(2020, 0, 1 + Math.floor(random() * 3), Math.floor(random() * 2) * 12)) : undefined,
  };
}

const NEGATED_OPERATORS: [positive: string, negative: string][] = [
  ['==', '!='],
  ['=~', '!~'],
  ['in', 'not in'],
  ['exists', '!exists'],
];

describe('properties over random expressions and instances (seeded)', () => {
  const ROUNDS = 400;

  it('not (E) is the negation of E', () => {
    const random = seeded(1);
    for (let i = 0; i < ROUNDS; i++) {
      const text = randomExpression(random, 3);
      const instance = randomFacts(random);
      expect(matches(`not (${text})`, instance), text).toBe(!matches(text, instance));
      expect(matches(`!(${text})`, instance), text).toBe(!matches(text, instance));
    }
  });

  it('A and B, A or B agree with && and || of the parts', () => {
    const random = seeded(2);
    for (let i = 0; i < ROUNDS; i++) {
      const a = randomExpression(random, 2);
      const b = randomExpression(random, 2);
      const instance = randomFacts(random);
      const [ea, eb] = [matches(a, instance), matches(b, instance)];
      expect(matches(`(${a}) and (${b})`, instance), `${a} / ${b}`).toBe(ea && eb);
      expect(matches(`(${a}) && (${b})`, instance), `${a} / ${b}`).toBe(ea && eb);
      expect(matches(`(${a}) or (${b})`, instance), `${a} / ${b}`).toBe(ea || eb);
      expect(matches(`(${a}) || (${b})`, instance), `${a} / ${b}`).toBe(ea || eb);
    }
  });

  it('every negative operator is the negation of its positive one, present or absent', () => {
    const random = seeded(3);
    for (let i = 0; i < ROUNDS; i++) {
      const instance = randomFacts(random);
      const [positive, negative] = pick(random, NEGATED_OPERATORS);
      const subject = random() < 0.2 ? 'task:group' : `attribute:${pick(random, NAMES)}`;
      const argument =
        positive === 'exists'
          ? ''
          : positive === 'in'
            ? `['${pick(random, VALUES)}', '${pick(random, GROUPS)}']`
            : positive === '=~'
              ? `'${pick(random, PATTERNS)}'`
              : `'${pick(random, [...VALUES, ...GROUPS])}'`;
      const yes = matches(`${subject} ${positive} ${argument}`, instance);
      expect(matches(`${subject} ${negative} ${argument}`, instance), `${subject} ${positive} ${argument}`).toBe(!yes);
    }
  });

  it('in [a, b] equals == a or == b', () => {
    const random = seeded(4);
    for (let i = 0; i < ROUNDS; i++) {
      const instance = randomFacts(random);
      const subject = `attribute:${pick(random, NAMES)}`;
      const [a, b] = [pick(random, VALUES), pick(random, VALUES)];
      expect(matches(`${subject} in ['${a}', '${b}']`, instance)).toBe(matches(`${subject} == '${a}' or ${subject} == '${b}'`, instance));
    }
  });

  it('formatting and re-parsing gives the same text and the same answers', () => {
    const random = seeded(5);
    for (let i = 0; i < ROUNDS; i++) {
      const parsed: Expression = parseExpression(randomExpression(random, 3));
      const text = formatExpression(parsed);
      const reparsed = parseExpression(text);
      expect(formatExpression(reparsed)).toBe(text);
      const instance = randomFacts(random);
      expect(evaluate(reparsed, instance), text).toBe(evaluate(parsed, instance));
    }
  });

  it('never throws anything but CqlSyntaxError on random input', () => {
    const random = seeded(6);
    const alphabet = [
      'attribute:x',
      'task:group',
      ' ',
      '==',
      '!',
      '=',
      '~',
      'in',
      'not',
      'and',
      '||',
      '(',
      ')',
      '[',
      ']',
      ',',
      "'",
      '"',
      'a',
      '*',
      '\\',
      'exists',
    ];
    for (let i = 0; i < 2000; i++) {
      let text = '';
      const length = Math.floor(random() * 12);
      for (let j = 0; j < length; j++) text += pick(random, alphabet);
      try {
        const expression = parseExpression(text);
        expect(typeof evaluate(expression, facts({ x: 'a' }))).toBe('boolean');
      } catch (error) {
        expect(error, text).toBeInstanceOf(CqlSyntaxError);
        const column = (error as CqlSyntaxError).column;
        expect(column, text).toBeGreaterThanOrEqual(1);
        expect(column, text).toBeLessThanOrEqual(text.length + 1);
      }
    }
  });
});
