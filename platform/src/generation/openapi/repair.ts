import type { DocumentIssue } from '../../errors.ts';

type Obj = Record<string, unknown>;

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type Method = (typeof METHODS)[number];
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const pointerKey = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');
const unpointer = (key: string): string => key.replace(/~1/g, '/').replace(/~0/g, '~');

/** Root fields of each kind of document; anything else but `x-` extensions is ignored with a warning. */
const ROOT_KEYS = {
  openapi: [
    'openapi',
    'info',
    'jsonSchemaDialect',
    'servers',
    'paths',
    'webhooks',
    'components',
    'security',
    'tags',
    'externalDocs',
  ],
  swagger: [
    'swagger',
    'info',
    'host',
    'basePath',
    'schemes',
    'consumes',
    'produces',
    'paths',
    'definitions',
    'parameters',
    'responses',
    'securityDefinitions',
    'security',
    'tags',
    'externalDocs',
  ],
};

/** Keys whose value is a schema, and keys whose values (by name or index) are schemas. */
const SCHEMA_KEYS = new Set([
  'schema',
  'items',
  'additionalProperties',
  'not',
  'additionalItems',
  'contains',
  'propertyNames',
  'if',
  'then',
  'else',
]);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependentSchemas']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);

/** Whether the value at `path` (keys from the root) is read as a JSON Schema. */
function isSchemaAt(path: string[]): boolean {
  const last = path.at(-1) ?? '';
  const parent = path.at(-2) ?? '';
  if (path.length === 2 && parent === 'definitions') return true;
  if (path.length === 3 && path[0] === 'components' && parent === 'schemas') return true;
  if (path.length <= 2) return false;
  if (SCHEMA_KEYS.has(last) && !SCHEMA_MAPS.has(parent)) return true;
  if (SCHEMA_MAPS.has(parent)) return true;
  return SCHEMA_LISTS.has(parent) && /^\d+$/.test(last);
}

/** Resolves an internal `$ref` (`#/a/b`) in `root`; undefined when it points nowhere. */
function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(2).split('/').map(unpointer)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObj(node) && Object.hasOwn(node, part)) node = node[part];
    else return undefined;
  }
  return node;
}

const at = (path: string[]): string => `#${path.map((k) => `/${pointerKey(k)}`).join('')}`;

/**
 * Repairs what has one obvious reading, in place, and says so: stray root keys are dropped, a `null` schema or one
 * whose `$ref` points nowhere (or outside the document) becomes "any", a parameter without a type becomes a string,
 * and a Swagger 2.0 `type: file` form parameter becomes a string (its content as base64, or a URL).
 */
export function repairDocument(doc: Obj): { warnings: DocumentIssue[]; broken: DocumentIssue[] } {
  const warnings: DocumentIssue[] = [];
  /** `$ref`s outside schemas that point nowhere (or outside the document): where the `$ref` is. */
  const broken: DocumentIssue[] = [];
  const kind = typeof doc.swagger === 'string' ? 'swagger' : 'openapi';
  for (const key of Object.keys(doc)) {
    if (key.startsWith('x-') || ROOT_KEYS[kind].includes(key)) continue;
    delete doc[key];
    warnings.push({
      path: at([key]),
      message: `is not a field of ${kind === 'swagger' ? 'Swagger 2.0' : 'OpenAPI'}: ignored`,
    });
  }
  if (!isObj(doc.info)) {
    doc.info = { title: '', version: '' };
    warnings.push({ path: '#/info', message: 'is missing: read as an untitled API' });
  }
  for (const key of ['title', 'version'] as const) {
    const info = doc.info as Obj;
    if (typeof info[key] === 'string') continue;
    info[key] = info[key] === undefined ? '' : String(info[key]);
    warnings.push({ path: `#/info/${key}`, message: 'is not a string: read as one' });
  }
  const seen = new Set<unknown>();
  const walk = (node: unknown, path: string[]): void => {
    if (!isObj(node) && !Array.isArray(node)) return;
    if (seen.has(node)) return;
    seen.add(node);
    const entries: [string, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [String(i), v])
      : Object.entries(node);
    for (const [key, value] of entries) {
      const here = [...path, key];
      const schema = isSchemaAt(here);
      const set = (v: unknown) => {
        (node as Record<string, unknown>)[key] = v;
      };
      if (schema && value === null) {
        set({});
        warnings.push({ path: at(here), message: 'is null: read as a schema that accepts anything' });
        continue;
      }
      if (isObj(value) && typeof value.$ref === 'string') {
        const ref = value.$ref;
        const external = !ref.startsWith('#');
        if (external || resolvePointer(doc, ref) === undefined) {
          const why = external
            ? `"${ref.slice(0, 200)}" points outside the document (never followed)`
            : `"${ref.slice(0, 200)}" points nowhere`;
          if (schema) {
            set({});
            warnings.push({ path: at([...here, '$ref']), message: `${why}: read as a schema that accepts anything` });
          } else broken.push({ path: at([...here, '$ref']), message: why });
          continue;
        }
      }
      if (isParameterList(here) && Array.isArray(value)) {
        for (const [i, p] of value.entries()) repairParameter(p, [...here, String(i)], kind, warnings);
      } else if (here.length === 2 && here[0] === 'parameters' && kind === 'swagger')
        repairParameter(value, here, kind, warnings);
      else if (here.length === 3 && here[0] === 'components' && here[1] === 'parameters')
        repairParameter(value, here, kind, warnings);
      walk(value, here);
    }
  };
  walk(doc, []);
  declarePathParameters(doc, kind, warnings);
  return { warnings, broken };
}

/** The name of a `path` parameter (followed through an internal `$ref`), if it is one. */
function pathParameterName(doc: Obj, p: unknown): string | undefined {
  const param = isObj(p) && typeof p.$ref === 'string' ? resolvePointer(doc, p.$ref) : p;
  return isObj(param) && param.in === 'path' && typeof param.name === 'string' ? param.name : undefined;
}

/**
 * A `{name}` of a path that an operation does not declare (nor its path item) becomes a required string parameter
 * of the operation: without it the tool could not fill the path in.
 */
function declarePathParameters(doc: Obj, kind: 'openapi' | 'swagger', warnings: DocumentIssue[]): void {
  const paths = isObj(doc.paths) ? doc.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
    if (!isObj(item) || names.length === 0) continue;
    const shared = Array.isArray(item.parameters) ? item.parameters.map((p) => pathParameterName(doc, p)) : [];
    for (const method of METHODS) {
      const op = item[method];
      if (!isObj(op)) continue;
      const own = Array.isArray(op.parameters) ? op.parameters.map((p) => pathParameterName(doc, p)) : [];
      for (const name of names) {
        if (shared.includes(name) || own.includes(name)) continue;
        if (!Array.isArray(op.parameters)) op.parameters = [];
        const type = kind === 'swagger' ? { type: 'string' } : { schema: { type: 'string' } };
        (op.parameters as unknown[]).push({ name, in: 'path', required: true, ...type });
        warnings.push({
          path: at(['paths', path, method, 'parameters']),
          message: `does not declare the path parameter "${name}": read as a required string`,
        });
      }
    }
  }
}

/** Drops the reusable component (`#/components/<kind>/<name>`, Swagger's `#/parameters/<name>` …) an issue sits in. */
export function removeComponent(doc: Obj, pointer: string): boolean {
  const parts = pointer.replace(/^#/, '').split('/').slice(1).map(unpointer);
  const depth =
    parts[0] === 'components' ? 3 : ['definitions', 'parameters', 'responses'].includes(parts[0] ?? '') ? 2 : 0;
  if (depth === 0 || parts.length < depth) return false;
  let node: unknown = doc;
  for (const part of parts.slice(0, depth - 1)) node = isObj(node) ? node[part] : undefined;
  const name = parts[depth - 1] as string;
  if (!isObj(node) || !(name in node)) return false;
  // A schema reads as "any"; anything else is gone (what refers to it is then repaired or skipped in turn).
  if ((parts[0] === 'components' && parts[1] === 'schemas') || parts[0] === 'definitions') node[name] = {};
  else delete node[name];
  return true;
}

/** `paths/<p>/parameters` or `paths/<p>/<method>/parameters`. */
function isParameterList(path: string[]): boolean {
  if (path[0] !== 'paths' || path.at(-1) !== 'parameters') return false;
  return path.length === 3 || (path.length === 4 && (METHODS as readonly string[]).includes(path[2] ?? ''));
}

function repairParameter(p: unknown, path: string[], kind: 'openapi' | 'swagger', warnings: DocumentIssue[]): void {
  if (!isObj(p) || typeof p.$ref === 'string') return;
  if (kind === 'openapi') {
    if (p.schema === undefined && p.content === undefined) {
      p.schema = { type: 'string' };
      warnings.push({ path: at(path), message: 'has no schema: read as a string' });
    }
    return;
  }
  if (p.in === 'body') return;
  if (p.type === 'file') {
    p.type = 'string';
    p.description = `${typeof p.description === 'string' && p.description ? `${p.description} ` : ''}(The file's content as base64, or its URL.)`;
    warnings.push({
      path: at([...path, 'type']),
      message: 'is "file": sent as a string (the content as base64, or a URL)',
    });
  } else if (p.type === undefined) {
    p.type = 'string';
    warnings.push({ path: at(path), message: 'has no type: read as a string' });
  }
}

/** Where an operation of the document sits, from the path of a problem inside it (`#/paths/~1a/get/...`). */
export function operationOf(pointer: string): { path: string; method: string | undefined } | undefined {
  const parts = pointer.replace(/^#/, '').split('/').slice(1).map(unpointer);
  if (parts[0] !== 'paths' || parts[1] === undefined) return undefined;
  const method = (METHODS as readonly string[]).includes(parts[2] ?? '') ? parts[2] : undefined;
  return { path: parts[1], method };
}

/** Removes an operation (or a whole path item when `method` is undefined); true when something was removed. */
export function removeOperation(doc: Obj, where: { path: string; method: string | undefined }): boolean {
  const paths = isObj(doc.paths) ? doc.paths : undefined;
  const item = paths?.[where.path];
  if (!paths || !isObj(item)) return false;
  if (where.method === undefined) {
    delete paths[where.path];
    return true;
  }
  if (!(where.method in item)) return false;
  delete item[where.method];
  if (!METHODS.some((m) => m in item)) delete paths[where.path];
  return true;
}

/** How many operations a document has. */
export function operationCount(doc: Obj): number {
  const paths = isObj(doc.paths) ? doc.paths : {};
  return Object.values(paths).reduce<number>(
    (n, item) => n + (isObj(item) ? METHODS.filter((m) => isObj(item[m])).length : 0),
    0,
  );
}
