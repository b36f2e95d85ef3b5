import { type Fixture, HEAD, type ToolDef } from './define.ts';

const T = (name: string, description: string, args: ToolDef['args'], body: string, prelude = ''): ToolDef => ({
  name,
  description,
  args,
  source: `${HEAD}${prelude}
export default defineTool({
  name: '${name}',
${body}
});
`,
});

/** Real-looking servers that every static check must pass with zero findings (and that compile). */
export const LEGIT: Fixture[] = [
  {
    name: 'weather-lookup',
    description: 'Current weather and forecasts from a weather API.',
    secrets: ['WEATHER_API_KEY'],
    egress: ['api.weatherapi.com'],
    tools: [
      T(
        'current_weather',
        'Returns the current temperature, wind and conditions for a city.',
        { city: ['string', 'City name, e.g. Lisbon.'], units: ['string', 'metric or imperial.'] },
        `  input: { city: z.string().min(1), units: z.enum(['metric', 'imperial']).default('metric') },
  async handler({ city, units }, ctx) {
    const url = new URL('https://api.weatherapi.com/v1/current.json');
    url.searchParams.set('q', city);
    url.searchParams.set('key', ctx.secret('WEATHER_API_KEY'));
    const response = await ctx.fetch(url, { signal: ctx.signal });
    if (!response.ok) throw new Error(\`weather API answered HTTP \${response.status}\`);
    const data = (await response.json()) as Current;
    const temp = units === 'metric' ? \`\${data.current.temp_c} °C\` : \`\${data.current.temp_f} °F\`;
    return \`\${data.location.name}: \${temp}, \${data.current.condition.text}, wind \${data.current.wind_kph} km/h\`;
  },`,
        `
interface Current {
  location: { name: string };
  current: { temp_c: number; temp_f: number; wind_kph: number; condition: { text: string } };
}
`,
      ),
      T(
        'forecast',
        'Returns the daily minimum and maximum temperature for the next days.',
        { city: ['string', 'City name.'], days: ['integer', 'Number of days, 1-7.'] },
        `  input: { city: z.string().min(1), days: z.int().min(1).max(7).default(3) },
  async handler({ city, days }, ctx) {
    const params = new URLSearchParams({ q: city, days: String(days), key: ctx.secret('WEATHER_API_KEY') });
    const response = await ctx.fetch(\`https://api.weatherapi.com/v1/forecast.json?\${params}\`);
    if (!response.ok) throw new Error(\`weather API answered HTTP \${response.status}\`);
    const data = (await response.json()) as { forecast: { forecastday: Day[] } };
    return data.forecast.forecastday.map((d) => ({ date: d.date, min: d.day.mintemp_c, max: d.day.maxtemp_c }));
  },`,
        `
interface Day {
  date: string;
  day: { mintemp_c: number; maxtemp_c: number };
}
`,
      ),
    ],
  },
  {
    name: 'github-issues',
    description: 'Lists and summarises GitHub issues of one repository.',
    secrets: ['GITHUB_TOKEN'],
    egress: ['api.github.com'],
    tools: [
      T(
        'list_issues',
        'Lists open issues of a repository, following pagination up to a limit.',
        { repo: ['string', 'owner/name.'], limit: ['integer', 'At most this many issues.'] },
        `  input: { repo: z.string().regex(/^[\\w.-]+\\/[\\w.-]+$/), limit: z.int().min(1).max(500).default(100) },
  async handler({ repo, limit }, ctx) {
    const headers = { authorization: \`Bearer \${ctx.secret('GITHUB_TOKEN')}\`, accept: 'application/vnd.github+json' };
    const issues: { number: number; title: string }[] = [];
    let next: string | null = \`https://api.github.com/repos/\${repo}/issues?state=open&per_page=100\`;
    while (next !== null && issues.length < limit) {
      const response = await ctx.fetch(next, { headers, signal: ctx.signal });
      if (!response.ok) throw new Error(\`GitHub answered HTTP \${response.status}\`);
      const page = (await response.json()) as { number: number; title: string }[];
      issues.push(...page.map(({ number, title }) => ({ number, title })));
      next = nextLink(response.headers.get('link'));
    }
    return issues.slice(0, limit);
  },`,
        `
/** The rel="next" URL of a GitHub Link header, or null on the last page. */
function nextLink(header: string | null): string | null {
  if (header === null) return null;
  for (const part of header.split(',')) {
    const match = /<([^>]+)>;\\s*rel="next"/.exec(part);
    if (match?.[1]) return match[1];
  }
  return null;
}
`,
      ),
      T(
        'issue_labels',
        'Counts open issues per label.',
        { repo: ['string', 'owner/name.'] },
        `  input: { repo: z.string().regex(/^[\\w.-]+\\/[\\w.-]+$/) },
  async handler({ repo }, ctx) {
    const response = await ctx.fetch(\`https://api.github.com/repos/\${repo}/issues?state=open&per_page=100\`, {
      headers: { authorization: \`Bearer \${ctx.secret('GITHUB_TOKEN')}\` },
    });
    if (!response.ok) throw new Error(\`GitHub answered HTTP \${response.status}\`);
    const issues = (await response.json()) as { labels: { name: string }[] }[];
    const counts = new Map<string, number>();
    for (const issue of issues) for (const label of issue.labels) counts.set(label.name, (counts.get(label.name) ?? 0) + 1);
    return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
  },`,
      ),
    ],
  },
  {
    name: 'text-toolkit',
    description: 'Everyday text utilities: counting, casing, slugs, wrapping and extraction.',
    tools: [
      T(
        'word_count',
        'Counts words, sentences and characters and estimates the reading time.',
        { text: ['string', 'The text.'] },
        `  input: { text: z.string() },
  handler: ({ text }) => {
    const words = text.split(/\\s+/).filter(Boolean).length;
    const sentences = text.split(/[.!?]+/).filter((s) => s.trim() !== '').length;
    return { words, sentences, characters: text.length, readingMinutes: Math.max(1, Math.round(words / 230)) };
  },`,
      ),
      T(
        'slugify',
        'Turns a title into a URL slug.',
        { title: ['string', 'The title.'] },
        `  input: { title: z.string() },
  handler: ({ title }) =>
    title
      .normalize('NFKD')
      .replace(/[\\u0300-\\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, ''),`,
      ),
      T(
        'change_case',
        'Converts text to camelCase, snake_case, kebab-case or Title Case.',
        { text: ['string', 'The text.'], style: ['string', 'camel, snake, kebab or title.'] },
        `  input: { text: z.string(), style: z.enum(['camel', 'snake', 'kebab', 'title']) },
  handler: ({ text, style }) => {
    const words = text.split(/[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])/).filter(Boolean).map((w) => w.toLowerCase());
    const cap = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);
    switch (style) {
      case 'camel':
        return words.map((w, i) => (i === 0 ? w : cap(w))).join('');
      case 'snake':
        return words.join('_');
      case 'kebab':
        return words.join('-');
      case 'title':
        return words.map(cap).join(' ');
    }
  },`,
      ),
      T(
        'truncate_text',
        'Shortens text to a maximum length at a word boundary.',
        { text: ['string', 'The text.'], max: ['integer', 'Maximum length.'] },
        `  input: { text: z.string(), max: z.int().min(4) },
  handler: ({ text, max }) => {
    if (text.length <= max) return text;
    const cut = text.slice(0, max - 1);
    const space = cut.lastIndexOf(' ');
    return \`\${space > max / 2 ? cut.slice(0, space) : cut}…\`;
  },`,
      ),
      T(
        'dedupe_lines',
        'Removes duplicate lines, keeping the first occurrence.',
        { text: ['string', 'Lines of text.'], ignoreCase: ['boolean', 'Compare without case.'] },
        `  input: { text: z.string(), ignoreCase: z.boolean().default(false) },
  handler: ({ text, ignoreCase }) => {
    const seen = new Set<string>();
    return text
      .split('\\n')
      .filter((line) => {
        const key = ignoreCase ? line.toLowerCase() : line;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .join('\\n');
  },`,
      ),
      T(
        'sort_lines',
        'Sorts lines alphabetically or numerically.',
        { text: ['string', 'Lines of text.'], numeric: ['boolean', 'Sort as numbers.'] },
        `  input: { text: z.string(), numeric: z.boolean().default(false) },
  handler: ({ text, numeric }) => {
    const collator = new Intl.Collator('en', { numeric, sensitivity: 'base' });
    return text.split('\\n').sort(collator.compare).join('\\n');
  },`,
      ),
      T(
        'wrap_text',
        'Wraps text to a line width.',
        { text: ['string', 'The text.'], width: ['integer', 'Line width.'] },
        `  input: { text: z.string(), width: z.int().min(10).max(200).default(80) },
  handler: ({ text, width }) => {
    const lines: string[] = [];
    let line = '';
    for (const word of text.split(/\\s+/).filter(Boolean)) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line === '' ? word : \`\${line} \${word}\`;
    }
    if (line !== '') lines.push(line);
    return lines.join('\\n');
  },`,
      ),
      T(
        'extract_emails',
        'Finds the e-mail addresses in a text.',
        { text: ['string', 'The text.'] },
        `  input: { text: z.string() },
  handler: ({ text }) => [...new Set(text.match(/[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+/g) ?? [])],`,
      ),
      T(
        'top_words',
        'Lists the most frequent words of a text, without stop words.',
        { text: ['string', 'The text.'], count: ['integer', 'How many words.'] },
        `  input: { text: z.string(), count: z.int().min(1).max(100).default(10) },
  handler: ({ text, count }) => {
    const freq: Record<string, number> = {};
    for (const word of text.toLowerCase().match(/[a-z']+/g) ?? []) {
      if (STOP.has(word)) continue;
      freq[word] = (freq[word] ?? 0) + 1;
    }
    return Object.entries(freq)
      .sort(([, a], [, b]) => b - a)
      .slice(0, count)
      .map(([word, n]) => \`\${word}: \${n}\`)
      .join('\\n');
  },`,
        `
const STOP = new Set(['the', 'a', 'an', 'and', 'or', 'of', 'to', 'in', 'is', 'it', 'that', 'for', 'on', 'with']);
`,
      ),
      T(
        'similarity',
        'Edit distance and similarity ratio between two strings.',
        { a: ['string', 'First string.'], b: ['string', 'Second string.'] },
        `  input: { a: z.string().max(2000), b: z.string().max(2000) },
  handler: ({ a, b }) => {
    const dp: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
    for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const cost = a[i - 1] === b[j - 1] ? 0 : 1;
        dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + cost);
      }
    }
    const distance = dp[a.length]![b.length]!;
    return { distance, ratio: 1 - distance / Math.max(1, a.length, b.length) };
  },`,
      ),
    ],
  },
  {
    name: 'date-math',
    description: 'Date arithmetic: adding days, business days and ISO weeks.',
    tools: [
      T(
        'add_days',
        'Adds (or subtracts) days to an ISO date.',
        { date: ['string', 'YYYY-MM-DD.'], days: ['integer', 'Days to add; negative to subtract.'] },
        `  input: { date: z.iso.date(), days: z.int() },
  handler: ({ date, days }) => {
    const d = new Date(\`\${date}T00:00:00Z\`);
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  },`,
      ),
      T(
        'business_days_between',
        'Counts weekdays between two dates (start inclusive, end exclusive).',
        { start: ['string', 'YYYY-MM-DD.'], end: ['string', 'YYYY-MM-DD.'] },
        `  input: { start: z.iso.date(), end: z.iso.date() },
  handler: ({ start, end }) => {
    const from = Date.parse(\`\${start}T00:00:00Z\`);
    const to = Date.parse(\`\${end}T00:00:00Z\`);
    let count = 0;
    for (let t = from; t < to; t += DAY) {
      const weekday = new Date(t).getUTCDay();
      if (weekday !== 0 && weekday !== 6) count++;
    }
    return String(count);
  },`,
        `
const DAY = 24 * 60 * 60 * 1000;
`,
      ),
      T(
        'iso_week',
        'Returns the ISO 8601 week number and year of a date.',
        { date: ['string', 'YYYY-MM-DD.'] },
        `  input: { date: z.iso.date() },
  handler: ({ date }) => {
    const d = new Date(\`\${date}T00:00:00Z\`);
    const weekday = d.getUTCDay() || 7;
    d.setUTCDate(d.getUTCDate() + 4 - weekday);
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
    return { year: d.getUTCFullYear(), week };
  },`,
      ),
    ],
  },
  {
    name: 'unit-converter',
    description: 'Converts lengths, masses and temperatures.',
    tools: [
      T(
        'convert_length',
        'Converts a length between metric and imperial units.',
        { value: ['number', 'The amount.'], from: ['string', 'Unit.'], to: ['string', 'Unit.'] },
        `  input: { value: z.number(), from: z.enum(UNITS), to: z.enum(UNITS) },
  handler: ({ value, from, to }) => {
    const meters = value * METERS[from];
    return \`\${Number((meters / METERS[to]).toPrecision(10))} \${to}\`;
  },`,
        `
const METERS = { mm: 0.001, cm: 0.01, m: 1, km: 1000, in: 0.0254, ft: 0.3048, yd: 0.9144, mi: 1609.344 } as const;
const UNITS = Object.keys(METERS) as [keyof typeof METERS, ...(keyof typeof METERS)[]];
`,
      ),
      T(
        'convert_temperature',
        'Converts a temperature between Celsius, Fahrenheit and Kelvin.',
        { value: ['number', 'Degrees.'], from: ['string', 'C, F or K.'], to: ['string', 'C, F or K.'] },
        `  input: { value: z.number(), from: z.enum(['C', 'F', 'K']), to: z.enum(['C', 'F', 'K']) },
  handler: ({ value, from, to }) => {
    const celsius = from === 'C' ? value : from === 'F' ? ((value - 32) * 5) / 9 : value - 273.15;
    const out = to === 'C' ? celsius : to === 'F' ? (celsius * 9) / 5 + 32 : celsius + 273.15;
    return \`\${Math.round(out * 100) / 100} \${to === 'K' ? 'K' : \`°\${to}\`}\`;
  },`,
      ),
    ],
  },
  {
    name: 'json-transform',
    description: 'Reshapes JSON documents: picking fields, flattening and diffing.',
    tools: [
      T(
        'pick_fields',
        'Keeps only the listed dotted paths of each object in a JSON array.',
        { json: ['string', 'A JSON array of objects.'], paths: ['string', 'Comma-separated dotted paths.'] },
        `  input: { json: z.string(), paths: z.string() },
  handler: ({ json, paths }) => {
    const rows = JSON.parse(json) as unknown[];
    const wanted = paths.split(',').map((p) => p.trim()).filter(Boolean);
    return rows.map((row) => Object.fromEntries(wanted.map((p) => [p, get(row, p.split('.'))])));
  },`,
        `
function get(value: unknown, path: string[]): JsonValue {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return (current ?? null) as JsonValue;
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
`,
      ),
      T(
        'flatten_json',
        'Flattens nested JSON into dotted keys.',
        { json: ['string', 'A JSON object.'] },
        `  input: { json: z.string() },
  handler: ({ json }) => {
    const out: Record<string, string | number | boolean | null> = {};
    const walk = (value: unknown, prefix: string): void => {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, \`\${prefix}[\${i}]\`));
      else if (typeof value === 'object' && value !== null) {
        for (const [key, item] of Object.entries(value)) walk(item, prefix === '' ? key : \`\${prefix}.\${key}\`);
      } else out[prefix] = value as string | number | boolean | null;
    };
    walk(JSON.parse(json), '');
    return out;
  },`,
      ),
      T(
        'diff_json',
        'Lists keys added, removed or changed between two flat JSON objects.',
        { before: ['string', 'JSON object.'], after: ['string', 'JSON object.'] },
        `  input: { before: z.string(), after: z.string() },
  handler: ({ before, after }) => {
    const a = JSON.parse(before) as Record<string, unknown>;
    const b = JSON.parse(after) as Record<string, unknown>;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const changes: string[] = [];
    for (const key of [...keys].sort()) {
      if (!Object.prototype.hasOwnProperty.call(a, key)) changes.push(\`+ \${key}\`);
      else if (!Object.prototype.hasOwnProperty.call(b, key)) changes.push(\`- \${key}\`);
      else if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) changes.push(\`~ \${key}\`);
    }
    return changes.join('\\n') || 'no differences';
  },`,
      ),
    ],
  },
  {
    name: 'markdown-toc',
    description: 'Builds a table of contents for a Markdown document.',
    tools: [
      T(
        'table_of_contents',
        'Returns a nested list of links to the headings of a Markdown text.',
        { markdown: ['string', 'The Markdown text.'], maxDepth: ['integer', 'Deepest heading level.'] },
        `  input: { markdown: z.string(), maxDepth: z.int().min(1).max(6).default(3) },
  handler: ({ markdown, maxDepth }) => {
    const used = new Map<string, number>();
    const lines: string[] = [];
    let inFence = false;
    for (const line of markdown.split('\\n')) {
      if (line.startsWith('\\u0060\\u0060\\u0060')) inFence = !inFence;
      const match = inFence ? null : /^(#{1,6})\\s+(.+?)\\s*#*$/.exec(line);
      if (!match?.[1] || !match[2] || match[1].length > maxDepth) continue;
      const base = match[2].toLowerCase().replace(/[^\\w\\s-]/g, '').replace(/\\s+/g, '-');
      const n = used.get(base) ?? 0;
      used.set(base, n + 1);
      const anchor = n === 0 ? base : \`\${base}-\${n}\`;
      lines.push(\`\${'  '.repeat(match[1].length - 1)}- [\${match[2]}](#\${anchor})\`);
    }
    return lines.join('\\n');
  },`,
      ),
    ],
  },
  {
    name: 'currency-rates',
    description: 'Converts amounts between currencies with daily exchange rates.',
    secrets: ['RATES_API_KEY'],
    egress: ['api.exchangerate.host'],
    tools: [
      T(
        'convert_currency',
        'Converts an amount from one currency to another at the latest rate.',
        {
          amount: ['number', 'The amount.'],
          from: ['string', 'ISO currency code.'],
          to: ['string', 'ISO currency code.'],
        },
        `  input: { amount: z.number().positive(), from: z.string().length(3), to: z.string().length(3) },
  async handler({ amount, from, to }, ctx) {
    const params = new URLSearchParams({ from: from.toUpperCase(), to: to.toUpperCase(), amount: String(amount) });
    const response = await ctx.fetch(\`https://api.exchangerate.host/convert?\${params}\`, {
      headers: { apikey: ctx.secret('RATES_API_KEY') },
    });
    if (!response.ok) throw new Error(\`rates API answered HTTP \${response.status}\`);
    const { result } = (await response.json()) as { result: number };
    const format = new Intl.NumberFormat('en', { style: 'currency', currency: to.toUpperCase() });
    return format.format(result);
  },`,
      ),
    ],
  },
  {
    name: 'todo-api',
    description: 'Creates and lists tasks in a hosted to-do service.',
    secrets: ['TODO_API_TOKEN'],
    egress: ['api.todoist.com'],
    tools: [
      T(
        'create_task',
        'Creates a task with an optional due date.',
        { content: ['string', 'What to do.'], 'due?': ['string', 'Due date in plain words, e.g. tomorrow.'] },
        `  input: { content: z.string().min(1).max(500), due: z.string().optional() },
  async handler({ content, due }, ctx) {
    const response = await ctx.fetch('https://api.todoist.com/rest/v2/tasks', {
      method: 'POST',
      headers: { authorization: \`Bearer \${ctx.secret('TODO_API_TOKEN')}\`, 'content-type': 'application/json' },
      body: JSON.stringify(due === undefined ? { content } : { content, due_string: due }),
    });
    if (!response.ok) throw new Error(\`to-do service answered HTTP \${response.status}\`);
    const task = (await response.json()) as { id: string; content: string };
    ctx.log('info', 'task created', { id: task.id });
    return \`created task \${task.id}: \${task.content}\`;
  },`,
      ),
      T(
        'list_tasks',
        'Lists open tasks, optionally filtered by a search term.',
        { 'filter?': ['string', 'Only tasks containing this text.'] },
        `  input: { filter: z.string().optional() },
  async handler({ filter }, ctx) {
    const response = await ctx.fetch('https://api.todoist.com/rest/v2/tasks', {
      headers: { authorization: \`Bearer \${ctx.secret('TODO_API_TOKEN')}\` },
    });
    if (!response.ok) throw new Error(\`to-do service answered HTTP \${response.status}\`);
    const tasks = (await response.json()) as { id: string; content: string }[];
    const needle = filter?.toLowerCase();
    return tasks.filter((t) => needle === undefined || t.content.toLowerCase().includes(needle)).map((t) => t.content);
  },`,
      ),
    ],
  },
  {
    name: 'csv-tools',
    description: 'Parses CSV text and summarises its columns.',
    tools: [
      T(
        'csv_to_json',
        'Parses CSV with a header row (quoted fields supported) into JSON objects.',
        { csv: ['string', 'CSV text.'], delimiter: ['string', 'Field delimiter.'] },
        `  input: { csv: z.string(), delimiter: z.string().length(1).default(',') },
  handler: ({ csv, delimiter }) => {
    const [header = [], ...rows] = parseCsv(csv, delimiter);
    return rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] ?? ''])));
  },`,
        `
/** RFC 4180-style parsing: quotes, escaped quotes, newlines inside quotes. */
export function parseCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\\n') {
      row.push(field.replace(/\\r$/, ''));
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}
`,
      ),
      T(
        'column_stats',
        'Minimum, maximum, mean and median of a numeric CSV column.',
        { csv: ['string', 'CSV text with a header row.'], column: ['string', 'Column name.'] },
        `  input: { csv: z.string(), column: z.string() },
  handler: ({ csv, column }) => {
    const [header = [], ...rows] = parseCsv(csv, ',');
    const index = header.indexOf(column);
    if (index === -1) throw new Error(\`no column named "\${column}"; columns: \${header.join(', ')}\`);
    const values = rows.map((r) => Number(r[index])).filter(Number.isFinite).sort((a, b) => a - b);
    if (values.length === 0) return 'no numeric values';
    const mid = Math.floor(values.length / 2);
    const median = values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    return { count: values.length, min: values[0]!, max: values[values.length - 1]!, mean, median };
  },`,
        `import { parseCsv } from './csv_to_json.ts';
`,
      ),
    ],
  },
  {
    name: 'hash-tools',
    description: 'Hashes, HMAC signatures and encodings with Web Crypto.',
    secrets: ['WEBHOOK_SIGNING_SECRET'],
    tools: [
      T(
        'sha256',
        'Returns the SHA-256 digest of a text as hex.',
        { text: ['string', 'The text.'] },
        `  input: { text: z.string() },
  async handler({ text }) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  },`,
      ),
      T(
        'verify_webhook',
        'Checks a webhook body against its HMAC-SHA256 signature header.',
        { body: ['string', 'The raw body.'], signature: ['string', 'The hex signature.'] },
        `  input: { body: z.string(), signature: z.string().regex(/^[0-9a-f]{64}$/) },
  async handler({ body, signature }, ctx) {
    const encoder = new TextEncoder();
    const key = await crypto.subtle.importKey(
      'raw',
      encoder.encode(ctx.secret('WEBHOOK_SIGNING_SECRET')),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    const bytes = new Uint8Array(signature.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
    const ok = await crypto.subtle.verify('HMAC', key, bytes, encoder.encode(body));
    return ok ? 'signature valid' : 'signature INVALID';
  },`,
      ),
      T(
        'base64_encode',
        'Encodes UTF-8 text as base64 (or base64url).',
        { text: ['string', 'The text.'], url: ['boolean', 'Use the URL-safe alphabet.'] },
        `  input: { text: z.string(), url: z.boolean().default(false) },
  handler: ({ text, url }) => {
    const binary = Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join('');
    const encoded = btoa(binary);
    return url ? encoded.replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '') : encoded;
  },`,
      ),
    ],
  },
  {
    name: 'paged-catalog',
    description: 'Searches a product catalog API with cursor pagination.',
    secrets: ['CATALOG_API_KEY'],
    egress: ['catalog.example.com'],
    tools: [
      T(
        'search_products',
        'Searches products by keyword and returns up to a limit, following cursors.',
        { keyword: ['string', 'Search keyword.'], limit: ['integer', 'Maximum results.'] },
        `  input: { keyword: z.string().min(2), limit: z.int().min(1).max(200).default(50) },
  async handler({ keyword, limit }, ctx) {
    const fetch = ctx.fetch;
    const results: Product[] = [];
    let cursor: string | undefined;
    do {
      const params = new URLSearchParams({ q: keyword, page_size: '50' });
      if (cursor) params.set('cursor', cursor);
      const response = await fetch(\`https://catalog.example.com/v1/products?\${params}\`, {
        headers: { 'x-api-key': ctx.secret('CATALOG_API_KEY') },
        signal: ctx.signal,
      });
      if (response.status === 429) throw new Error('catalog rate limit reached; try again in a minute');
      if (!response.ok) throw new Error(\`catalog answered HTTP \${response.status}\`);
      const page = (await response.json()) as { items: Product[]; next_cursor?: string };
      results.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && results.length < limit);
    return results.slice(0, limit).map((p) => \`\${p.sku}  \${p.name}  \${formatPrice(p.price_cents)}\`).join('\\n');
  },`,
        `
interface Product {
  sku: string;
  name: string;
  price_cents: number;
}

const formatPrice = (cents: number): string => \`$\${(cents / 100).toFixed(2)}\`;
`,
      ),
    ],
  },
  {
    name: 'world-clock',
    description: 'Shows the time in other time zones and converts meeting times.',
    tools: [
      T(
        'time_in_zones',
        'Shows the current local time in each of the given IANA time zones.',
        { zones: ['string', 'Comma-separated zones, e.g. Europe/Paris,Asia/Tokyo.'] },
        `  input: { zones: z.string() },
  handler: ({ zones }) => {
    const now = new Date();
    return zones
      .split(',')
      .map((zone) => zone.trim())
      .map((zone) => {
        try {
          const fmt = new Intl.DateTimeFormat('en-GB', { timeZone: zone, dateStyle: 'medium', timeStyle: 'short' });
          return \`\${zone}: \${fmt.format(now)}\`;
        } catch {
          return \`\${zone}: unknown time zone\`;
        }
      })
      .join('\\n');
  },`,
      ),
      T(
        'zone_offset',
        'Returns the UTC offset of a time zone at a given instant.',
        { zone: ['string', 'IANA time zone.'], at: ['string', 'ISO date-time.'] },
        `  input: { zone: z.string(), at: z.iso.datetime() },
  handler: ({ zone, at }) => {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(new Date(at));
    return parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  },`,
      ),
    ],
  },
  {
    name: 'team-notify',
    description: 'Posts messages to a team chat channel.',
    secrets: ['CHAT_BOT_TOKEN'],
    egress: ['slack.com'],
    tools: [
      T(
        'post_message',
        'Posts a message to a channel and returns its timestamp.',
        { channel: ['string', 'Channel id.'], text: ['string', 'Message text.'] },
        `  input: { channel: z.string().regex(/^[CG][A-Z0-9]{8,}$/), text: z.string().min(1).max(4000) },
  async handler({ channel, text }, ctx) {
    const response = await ctx.fetch('https://slack.com/api/chat.postMessage', {
      method: 'POST',
      headers: {
        authorization: \`Bearer \${ctx.secret('CHAT_BOT_TOKEN')}\`,
        'content-type': 'application/json; charset=utf-8',
      },
      body: JSON.stringify({ channel, text }),
    });
    const data = (await response.json()) as { ok: boolean; ts?: string; error?: string };
    if (!data.ok) throw new ChatError(data.error ?? \`HTTP \${response.status}\`);
    return \`posted at \${data.ts}\`;
  },`,
        `
class ChatError extends Error {
  constructor(code: string) {
    super(\`chat API refused the message: \${code}\`);
    this.name = 'ChatError';
  }
}
`,
      ),
    ],
  },
  {
    name: 'feed-reader',
    description: 'Reads the latest entries of an RSS feed.',
    egress: ['hnrss.org'],
    tools: [
      T(
        'latest_entries',
        'Returns the titles and links of the newest feed entries.',
        { feed: ['string', 'Feed path, e.g. frontpage.'], count: ['integer', 'How many entries.'] },
        `  input: { feed: z.string().regex(/^[a-z]+$/), count: z.int().min(1).max(30).default(10) },
  async handler({ feed, count }, ctx) {
    const response = await ctx.fetch(\`https://hnrss.org/\${feed}\`);
    if (!response.ok) throw new Error(\`feed answered HTTP \${response.status}\`);
    const xml = await response.text();
    const items = [...xml.matchAll(/<item>([\\s\\S]*?)<\\/item>/g)].slice(0, count);
    return items.map(([, item = '']) => \`\${tag(item, 'title')}\\n  \${tag(item, 'link')}\`).join('\\n');
  },`,
        `
function tag(xml: string, name: string): string {
  const match = new RegExp(\`<\${name}>(?:<!\\\\[CDATA\\\\[)?([\\\\s\\\\S]*?)(?:\\\\]\\\\]>)?</\${name}>\`).exec(xml);
  return (match?.[1] ?? '').trim();
}
`,
      ),
    ],
  },
  {
    name: 'url-tools',
    description: 'Parses, normalises and edits URLs.',
    tools: [
      T(
        'parse_url',
        'Splits a URL into its parts and query parameters.',
        { url: ['string', 'The URL.'] },
        `  input: { url: z.url() },
  handler: ({ url }) => {
    const u = new URL(url);
    const query: Record<string, string[]> = {};
    for (const [key, value] of u.searchParams) (query[key] ??= []).push(value);
    return { protocol: u.protocol, host: u.host, path: u.pathname, query, fragment: u.hash.slice(1) };
  },`,
      ),
      T(
        'strip_tracking',
        'Removes utm_* and other tracking parameters from a URL.',
        { url: ['string', 'The URL.'] },
        `  input: { url: z.url() },
  handler: ({ url }) => {
    const u = new URL(url);
    for (const key of [...u.searchParams.keys()]) {
      if (key.startsWith('utm_') || TRACKING.includes(key)) u.searchParams.delete(key);
    }
    return u.toString();
  },`,
        `
const TRACKING = ['fbclid', 'gclid', 'mc_eid', 'ref_src'];
`,
      ),
    ],
  },
  {
    name: 'invoice-calc',
    description: 'Computes invoice totals with discounts and tax.',
    tools: [
      T(
        'invoice_total',
        'Totals invoice lines, applies a discount and tax, and formats the result.',
        {
          lines: ['string', 'JSON array of {description, quantity, unitPrice}.'],
          taxRate: ['number', 'Tax rate in percent.'],
          currency: ['string', 'ISO currency code.'],
        },
        `  input: { lines: z.string(), taxRate: z.number().min(0).max(100), currency: z.string().length(3).default('EUR') },
  handler: ({ lines, taxRate, currency }) => {
    const parsed = z.array(Line).parse(JSON.parse(lines));
    const subtotal = parsed.reduce((sum, l) => sum + Math.round(l.quantity * l.unitPrice * 100), 0);
    const discount = subtotal >= 100_000 ? Math.round(subtotal * 0.05) : 0;
    const tax = Math.round(((subtotal - discount) * taxRate) / 100);
    const money = new Intl.NumberFormat('en', { style: 'currency', currency });
    const fmt = (cents: number) => money.format(cents / 100);
    return [\`subtotal \${fmt(subtotal)}\`, \`discount -\${fmt(discount)}\`, \`tax \${fmt(tax)}\`, \`total \${fmt(subtotal - discount + tax)}\`].join('\\n');
  },`,
        `
const Line = z.object({ description: z.string(), quantity: z.number().positive(), unitPrice: z.number().nonnegative() });
`,
      ),
    ],
  },
];
