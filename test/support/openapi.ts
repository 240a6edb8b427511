// Validates real responses against the checked-in OpenAPI document (coordinator/openapi.json):
// the operation must exist, the status must be documented (or fall to `default`), and the body
// must match the documented schema. Paths that match no operation may only answer an Error.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

type Json = Record<string, unknown>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export class OpenApiValidator {
  readonly doc: Json;
  private readonly ajv: Ajv2020;
  private readonly templates: { template: string; regex: RegExp; literal: number }[];
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(path = new URL('../../coordinator/openapi.json', import.meta.url)) {
    const text = readFileSync(path, 'utf8').replaceAll('"#/components/schemas/', '"blox-openapi#/$defs/');
    this.doc = JSON.parse(text) as Json;
    this.ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(this.ajv);
    const components = this.doc.components as Json;
    this.ajv.addSchema({ $id: 'blox-openapi', $defs: components.schemas as Json });
    const paths = this.doc.paths as Json;
    this.templates = Object.keys(paths).map((template) => ({
      template,
      regex: new RegExp(`^${template.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      literal: template.split('/').filter((s) => s && !s.startsWith('{')).length,
    }));
  }

  /** Throws with a readable message when the response breaks the document. */
  check(method: string, path: string, status: number, body: string, contentType: string | null): void {
    const pathname = path.split('?')[0] as string;
    const matches = this.templates.filter((t) => t.regex.test(pathname)).sort((a, b) => b.literal - a.literal);
    const where = `${method} ${pathname} -> ${status}`;
    if (matches.length === 0) {
      if (status !== 404 && status !== 405) throw new Error(`${where}: path is not in the OpenAPI document`);
      this.validateJson(where, { $ref: 'blox-openapi#/$defs/Error' }, body, contentType);
      return;
    }
    const item = (this.doc.paths as Json)[(matches[0] as { template: string }).template] as Json;
    const operation = item[method.toLowerCase()] as Json | undefined;
    if (!operation) {
      if (status !== 405) throw new Error(`${where}: method is not in the OpenAPI document`);
      this.validateJson(where, { $ref: 'blox-openapi#/$defs/Error' }, body, contentType);
      return;
    }
    const responses = operation.responses as Json;
    const response = (responses[String(status)] ?? responses.default) as Json | undefined;
    if (!response) throw new Error(`${where}: status is not documented`);
    const content = response.content as Json | undefined;
    if (!content) {
      if (body.length > 0) throw new Error(`${where}: documented without a body but answered ${body.slice(0, 200)}`);
      return;
    }
    const json = content['application/json'] as Json | undefined;
    if (!json) {
      const documented = Object.keys(content);
      if (!documented.some((type) => contentType?.startsWith(type))) throw new Error(`${where}: content-type ${contentType} is not one of ${documented.join(', ')}`);
      return;
    }
    this.validateJson(where, json.schema as Json, body, contentType);
  }

  private validateJson(where: string, schema: Json, body: string, contentType: string | null): void {
    if (!contentType?.startsWith('application/json')) throw new Error(`${where}: content-type ${contentType} is not JSON`);
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new Error(`${where}: body is not JSON: ${body.slice(0, 200)}`);
    }
    const key = JSON.stringify(schema);
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.cache.set(key, validate);
    }
    if (!validate(value)) {
      throw new Error(`${where}: body does not match the OpenAPI document: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}\n${body.slice(0, 500)}`);
    }
  }
}
