import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Manifest, ToolSpec, UiResource } from './spec.ts';
import { VIEW_TSCONFIG_PATH, viewTsconfigText } from './tsconfig.ts';

/**
 * The nine view patterns (MCP Apps) a server's view can start from: each is a real script under
 * `runner-template/patterns/` (type-checked and linted here) sharing `fields.ts` (bridge, reading results, safe
 * elements) and `style.css` (host theme variables, light and dark). Rendering one writes a folder `ui/<view>/`
 * and a `config.ts` that points the pattern at the tool's fields, read from its output schema.
 */
export const VIEW_PATTERNS = [
  'dashboard',
  'data-grid',
  'form',
  'card-list',
  'timeline',
  'calendar',
  'kanban',
  'chart',
  'detail',
] as const;

export type ViewPattern = (typeof VIEW_PATTERNS)[number];

/** What a pattern says about itself (the dashboard lists these). */
export const PATTERN_TITLES: Readonly<Record<ViewPattern, string>> = {
  dashboard: 'Dashboard: the result’s figures as tiles',
  'data-grid': 'Data grid: records as a sortable table',
  form: 'Form: the tool’s arguments as a form that runs it',
  'card-list': 'Card list: one card per record',
  timeline: 'Timeline: records in date order',
  calendar: 'Calendar: records on a month grid',
  kanban: 'Kanban: records in columns by status',
  chart: 'Chart: a number per record as bars',
  detail: 'Detail view: one record’s fields',
};

const PATTERNS_ROOT = fileURLToPath(new URL('../patterns/', import.meta.url));
const read = (file: string): string => readFileSync(`${PATTERNS_ROOT}${file}`, 'utf8');

type Schema = Record<string, unknown>;
const asSchema = (value: unknown): Schema | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Schema) : undefined;
const propertiesOf = (schema: Schema | undefined): [string, Schema][] =>
  Object.entries(asSchema(schema?.properties) ?? {}).flatMap(([k, v]) => (asSchema(v) ? [[k, v as Schema]] : []));

/** The fields a pattern shows, read from the tool's output schema (null: the view decides from the data). */
export interface ViewFields {
  list: string | null;
  label: string | null;
  date: string | null;
  status: string | null;
  number: string | null;
}

function first(props: [string, Schema][], test: (name: string, schema: Schema) => boolean): string | null {
  return props.find(([name, schema]) => test(name, schema))?.[0] ?? null;
}

/** Which property holds the records, and which of their fields are label, date, status and number. */
export function fieldsOf(outputSchema: Schema | undefined): ViewFields {
  const top = propertiesOf(outputSchema);
  // The records: a list of objects before any other list (a list of column names is not the data).
  const list =
    first(top, (_, s) => s.type === 'array' && asSchema(s.items)?.type === 'object') ??
    first(top, (_, s) => s.type === 'array');
  const items = list === null ? top : propertiesOf(asSchema(top.find(([k]) => k === list)?.[1].items));
  const type = (s: Schema) => s.type;
  return {
    list,
    label:
      first(items, (n, s) => type(s) === 'string' && /^(title|name|label|summary)$/i.test(n)) ??
      first(items, (_, s) => type(s) === 'string' && s.format === undefined),
    date:
      first(items, (_, s) => s.format === 'date' || s.format === 'date-time') ??
      first(items, (n) => /(date|time|_at|At|due|start)$/.test(n)),
    status:
      first(items, (n) => /^(status|state|stage|column|lane|phase)$/i.test(n)) ??
      first(items, (_, s) => Array.isArray(s.enum)),
    number:
      first(items, (n, s) => (type(s) === 'number' || type(s) === 'integer') && !/^(id|uuid|key)$|_id$|Id$/.test(n)) ??
      first(items, (_, s) => type(s) === 'number' || type(s) === 'integer'),
  };
}

/** What a view's config may name from an output schema: the lists of records, and the fields of each. */
export interface FieldChoices {
  /** Top-level properties that are lists. */
  lists: string[];
  /** The fields a config may name with `list` set to each list (its items' properties; `""`: no list, the top). */
  fields: Record<string, string[]>;
}

/** The names a view's config may use, read from the tool's output schema. */
export function fieldChoices(outputSchema: Schema | undefined): FieldChoices {
  const top = propertiesOf(outputSchema);
  const lists = top.filter(([, s]) => s.type === 'array').map(([name]) => name);
  const fields: Record<string, string[]> = { '': top.map(([name]) => name) };
  for (const [name, schema] of top) {
    if (schema.type === 'array') fields[name] = propertiesOf(asSchema(schema.items)).map(([field]) => field);
  }
  return { lists, fields };
}

/** Problems of a config's fields against the output schema's choices (empty: every name exists). */
export function fieldProblems(fields: ViewFields, choices: FieldChoices): string[] {
  const problems: string[] = [];
  if (fields.list !== null && !choices.lists.includes(fields.list)) {
    problems.push(`list: "${fields.list}" is not a list of the output schema (${choices.lists.join(', ') || 'none'})`);
  }
  const allowed = choices.fields[fields.list ?? ''] ?? [];
  for (const key of ['label', 'date', 'status', 'number'] as const) {
    const name = fields[key];
    if (name !== null && !allowed.includes(name)) {
      problems.push(
        `${key}: "${name}" is not a field of ${fields.list ?? 'the result'} (${allowed.join(', ') || 'none'})`,
      );
    }
  }
  return problems;
}

/** The most tools one view may be fed by. */
export const MAX_VIEW_TOOLS = 8;

/**
 * What each pattern reads from a result through its config: the list of records and the fields of a record it
 * shows. Every tool feeding a view must declare those alike (feedProblems); the other patterns show whatever they
 * are handed (the form runs the first tool).
 */
export const PATTERN_READS: Readonly<Record<ViewPattern, readonly (keyof ViewFields)[]>> = {
  dashboard: [],
  'data-grid': ['list'],
  form: [],
  'card-list': ['list', 'label'],
  timeline: ['list', 'date', 'label'],
  calendar: ['list', 'date', 'label'],
  kanban: ['list', 'status', 'label'],
  chart: ['list', 'number', 'label'],
  detail: [],
};

/** Why a tool cannot feed a view: the path of its result the view reads (`rows`, `rows[].title`) and what is wrong. */
export interface FeedProblem {
  field: string;
  message: string;
}

const ROLE_WORDS: Readonly<Record<keyof ViewFields, string>> = {
  list: 'the records',
  label: 'the label',
  date: 'the date',
  status: 'the status',
  number: 'the number',
};

/** The JSON types a schema declares, integer as number and without null (empty: any type). */
function typesOf(schema: Schema): string[] {
  const declared: unknown[] = Array.isArray(schema.type) ? schema.type : [schema.type];
  const types = declared.flatMap((t) =>
    typeof t === 'string' && t !== 'null' ? [t === 'integer' ? 'number' : t] : [],
  );
  return [...new Set(types)];
}

/** What is wrong with `actual` where the view reads `role` and the source tool declares `expected` (null: nothing). */
function feedProblem(
  source: string,
  at: { path: string; role: keyof ViewFields },
  expected: Schema,
  actual: Schema | undefined,
): FeedProblem | null {
  const want = typesOf(expected);
  const as = want.length > 0 ? ` as ${want.join(' or ')}` : '';
  if (actual === undefined) {
    return {
      field: at.path,
      message: `not declared; the view reads ${ROLE_WORDS[at.role]} there (${source} declares it${as})`,
    };
  }
  const got = typesOf(actual);
  if (want.length === 0 || got.length === 0 || got.every((t) => want.includes(t))) return null;
  return {
    field: at.path,
    message: `declared as ${got.join(' or ')}; the view reads ${ROLE_WORDS[at.role]} there, declared${as} by ${source}`,
  };
}

/**
 * Why `tool` cannot feed a `pattern` view whose `fields` come from `source`'s output schema: each field the pattern
 * reads must be declared by `tool` at the same path, with a type `source` declares there (empty: it can feed it).
 */
export function feedProblems(
  pattern: ViewPattern,
  fields: ViewFields,
  source: ToolSpec,
  tool: ToolSpec,
): FeedProblem[] {
  const reads = PATTERN_READS[pattern].filter((role) => fields[role] !== null);
  if (reads.length === 0) return [];
  const { list } = fields;
  const records = reads.flatMap((role) => (role === 'list' ? [] : [{ role, name: fields[role] as string }]));
  const pathOf = (name: string) => (list === null ? name : `${list}[].${name}`);
  if (tool.outputSchema === undefined) {
    const paths = [...(list === null ? [] : [list]), ...records.map((r) => pathOf(r.name))];
    return [{ field: 'outputSchema', message: `not declared; the view reads ${paths.join(', ')} from the result` }];
  }
  const lookup = (props: [string, Schema][], name: string) => props.find(([k]) => k === name)?.[1];
  let expected = propertiesOf(source.outputSchema);
  let actual = propertiesOf(tool.outputSchema);
  if (list !== null) {
    const want = lookup(expected, list) ?? { type: 'array' };
    const got = lookup(actual, list);
    const problem = feedProblem(source.name, { path: list, role: 'list' }, want, got);
    if (problem !== null) return [problem];
    expected = propertiesOf(asSchema(want.items));
    actual = propertiesOf(asSchema(got?.items));
  }
  return records.flatMap(({ role, name }) => {
    const problem = feedProblem(
      source.name,
      { path: pathOf(name), role },
      lookup(expected, name) ?? {},
      lookup(actual, name),
    );
    return problem === null ? [] : [problem];
  });
}

/** Names in words: `a`, `a and b`, `a, b and c`. */
export function inWords(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** The tool's arguments as the form pattern shows them. */
function inputsOf(tool: ToolSpec): { name: string; type: string; required: boolean; description: string }[] {
  const required = new Set(tool.inputSchema.required ?? []);
  return Object.entries(tool.inputSchema.properties).map(([name, schema]) => ({
    name,
    type: typeof schema.type === 'string' ? schema.type : 'string',
    required: required.has(name),
    description: typeof schema.description === 'string' ? schema.description : '',
  }));
}

function configText(title: string, tool: ToolSpec, others: readonly ToolSpec[], fields: ViewFields): string {
  const nullable = (v: string | null) => `${JSON.stringify(v)} as string | null`;
  const alsoFed = others.map((t) => t.name);
  return [
    '// The settings of this view: the tool that feeds it and the fields it shows. Edit them in a pull request.',
    ...(alsoFed.length > 0
      ? [`// Also fed by ${inWords(alsoFed)}, whose results declare the fields it shows with the same names and types.`]
      : []),
    'export const config = {',
    `  title: ${JSON.stringify(title)},`,
    `  tool: ${JSON.stringify(tool.name)},`,
    `  list: ${nullable(fields.list)},`,
    `  label: ${nullable(fields.label)},`,
    `  date: ${nullable(fields.date)},`,
    `  status: ${nullable(fields.status)},`,
    `  number: ${nullable(fields.number)},`,
    `  inputs: ${JSON.stringify(inputsOf(tool))} as { name: string; type: string; required: boolean; description: string }[],`,
    '};',
    '',
  ].join('\n');
}

/** What rendering a pattern asks for. */
export interface ViewRequest {
  pattern: ViewPattern;
  /** The tools whose results the view shows: the first gives it its fields (and is the one `form` runs). */
  tools: readonly string[];
  /** The view's name (`ui://<server>/<view>`); default: the pattern's. */
  view?: string;
  title?: string;
}

/**
 * A pattern rendered for a server: the files of `ui/<view>/` and the manifest with the view declared and each of
 * its tools pointing at it. `fields` are the record fields the view shows; default: read from the first tool's
 * output schema (fieldsOf). Whether the other tools return those fields is the caller's to check (feedProblems).
 */
export function renderView(
  manifest: Manifest,
  request: ViewRequest,
  fields?: ViewFields,
): { files: Record<string, string>; manifest: Manifest } {
  const [tool, ...others] = request.tools.map((name) => {
    const found = manifest.tools.find((t) => t.name === name);
    if (found === undefined) throw new Error(`no tool "${name}" in mcp.json`);
    return found;
  });
  if (tool === undefined) throw new Error('a view needs a tool to feed it');
  const view = request.view ?? request.pattern;
  const title = request.title ?? tool.title ?? tool.name;
  const uri = `ui://${manifest.name}/${view}`;
  const dir = `ui/${view}`;
  const files = {
    [`${dir}/index.html`]: read('index.html').replaceAll('>View<', `>${escapeHtml(title)}<`),
    [`${dir}/view.ts`]: read(`${request.pattern}.ts`),
    [`${dir}/fields.ts`]: read('fields.ts'),
    [`${dir}/style.css`]: read('style.css'),
    [`${dir}/config.ts`]: configText(title, tool, others, fields ?? fieldsOf(tool.outputSchema)),
    // The views' compiler config (the DOM's types); package.json's typecheck runs it (withViewTypecheck).
    [VIEW_TSCONFIG_PATH]: viewTsconfigText(),
  };
  const resource: UiResource = {
    uri,
    name: view,
    title,
    description: `${PATTERN_TITLES[request.pattern]}, fed by ${inWords(request.tools)}.`,
    source: `${dir}/index.html`,
    _meta: { ui: { csp: {}, prefersBorder: true } },
  };
  const resources = [...manifest.resources.filter((r) => r.uri !== uri), resource];
  const tools = manifest.tools.map((t) =>
    request.tools.includes(t.name) ? { ...t, _meta: { ui: { ...t._meta?.ui, resourceUri: uri } } } : t,
  );
  return { files, manifest: { ...manifest, tools, resources } };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}
