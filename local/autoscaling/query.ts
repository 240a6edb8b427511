// The AWS Query protocol as the Auto Scaling API speaks it ("awsquery"): a form-encoded POST body
// `Action=<Operation>&Version=2011-01-01&<members>`, lists as `Name.member.N`, structures as
// `Name.Member`; answers in XML, `<OperationResponse><OperationResult>...` with `<member>` items
// and ISO 8601 timestamps, errors as `<ErrorResponse><Error><Type/><Code/><Message/>`, HTTP 400.
export const XML_NAMESPACE = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

export type QueryValue = string | QueryValue[] | { [member: string]: QueryValue };

/** A form body to nested members: `A.member.2.B=x` becomes `{ A: [ , { B: 'x' }] }` (holes dropped). */
export function decodeQuery(body: string): { action: string; version: string; params: Record<string, QueryValue> } {
  const form = new URLSearchParams(body);
  const root: Record<string, QueryValue> = {};
  for (const [key, value] of form) {
    if (key === 'Action' || key === 'Version') continue;
    const parts = key.split('.');
    let node: Record<string, QueryValue> | QueryValue[] = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      const last = i === parts.length - 1;
      if (part === 'member' && Array.isArray(node)) continue;
      const nextIsList = parts[i + 1] === 'member';
      const slot: string | number = Array.isArray(node) ? Number(part) - 1 : part;
      const container = node as Record<string | number, QueryValue>;
      if (last) {
        container[slot] = value;
        break;
      }
      if (container[slot] === undefined || typeof container[slot] === 'string') container[slot] = nextIsList ? [] : {};
      node = container[slot] as Record<string, QueryValue> | QueryValue[];
    }
  }
  const compactLists = (value: QueryValue): QueryValue => {
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return value.filter((item) => item !== undefined).map(compactLists);
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, compactLists(item)]));
  };
  return { action: form.get('Action') ?? '', version: form.get('Version') ?? '', params: compactLists(root) as Record<string, QueryValue> };
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A value to XML members: arrays as `<member>` items, Dates as ISO 8601, undefined left out. */
export function toXml(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => `<member>${toXml(item)}</member>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .map(([name, item]) => `<${name}>${toXml(item)}</${name}>`)
      .join('');
  }
  return escape(String(value));
}

export function responseXml(action: string, result: Record<string, unknown> | undefined, requestId: string): string {
  const inner = result === undefined ? '' : `<${action}Result>${toXml(result)}</${action}Result>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${XML_NAMESPACE}">${inner}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  const type = code === 'InternalFailure' ? 'Receiver' : 'Sender';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${XML_NAMESPACE}"><Error><Type>${type}</Type><Code>${escape(code)}</Code><Message>${escape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** The JSON value the service model describes (timestamps as epoch seconds), for validation. */
export function toModelValue(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toModelValue);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, item]) => item !== undefined)
        .map(([name, item]) => [name, toModelValue(item)]),
    );
  }
  return value;
}
