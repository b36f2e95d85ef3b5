import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript-api';
import { describe, expect, it } from 'vitest';

// The repo's module graph, read with TypeScript's own parser (so imports inside template strings and comments
// are never mistaken for edges). It lives here because only platform depends on the `typescript-api` parser;
// it scans every workspace.
const ROOT = path.resolve(import.meta.dirname, '../..');
const WORKSPACES = ['prisma', 'runner-template', 'gitserver', 'reconciler', 'platform', 'site'];

/** One static import or re-export of a module of ours. */
interface Edge {
  from: string;
  to: string;
  /** `import type` / `export type`: erased at runtime, but it still ties the two modules' designs together. */
  typeOnly: boolean;
}

function filesUnder(dir: string, keep: (file: string) => boolean): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    if (name === 'node_modules' || name === 'generated' || name === 'dist') return [];
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full, keep) : keep(full) ? [full] : [];
  });
}

const isTs = (file: string) => /\.(ts|mts|cts)$/.test(file) && !file.endsWith('.d.ts');

/** The static `import … from` / `export … from` specifiers of a file. Dynamic `import()` is lazy and not an edge. */
function specifiers(file: string): { spec: string; typeOnly: boolean }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const node of source.statements) {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings : null;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name && named !== null && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      out.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause : null;
      const typeOnly =
        node.isTypeOnly || (named !== null && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly));
      out.push({ spec: node.moduleSpecifier.text, typeOnly });
    }
  }
  return out;
}

/** Every relative import edge between `.ts` files under `dirs`, as repo-relative paths. */
function edgesUnder(dirs: string[]): Edge[] {
  const edges: Edge[] = [];
  for (const file of dirs.flatMap((d) => filesUnder(d, isTs))) {
    for (const { spec, typeOnly } of specifiers(file)) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      edges.push({ from: path.relative(ROOT, file), to: path.relative(ROOT, target), typeOnly });
    }
  }
  return edges;
}

/** Each strongly connected group of two or more modules (Tarjan), with one concrete loop through it. */
function cycles(edges: Edge[]): string[] {
  const next = new Map<string, Edge[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const { to } of next.get(v) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(to) ?? 0));
      } else if (onStack.has(to)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(to) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (next.get(v) ?? []).some((e) => e.to === v)) groups.push(group);
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return groups.map((group) => loopThrough(group.sort(), next));
}

/** A shortest loop from the group's first module back to itself, e.g. `a.ts → b.ts (type) → a.ts`. */
function loopThrough(group: string[], next: Map<string, Edge[]>): string {
  const inGroup = new Set(group);
  const start = group[0] as string;
  const via = new Map<string, Edge>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const e of next.get(v) ?? []) {
      if (!inGroup.has(e.to) || via.has(e.to)) continue;
      via.set(e.to, e);
      if (e.to === start) queue.length = 0;
      else queue.push(e.to);
    }
  }
  const steps: Edge[] = [];
  for (let v = start; ; ) {
    const e = via.get(v);
    if (!e) break;
    steps.unshift(e);
    v = e.from;
    if (v === start) break;
  }
  const more = group.length > steps.length ? ` (${group.length} modules in the cycle)` : '';
  return `${start} → ${steps.map((e) => `${e.to}${e.typeOnly ? ' (type)' : ''}`).join(' → ')}${more}`;
}

/** Relative imports by files of `workspace` that land outside its folder (in another workspace's src, test…). */
function crossings(workspace: string, edges: Edge[]): string[] {
  const own = `${workspace}/`;
  return edges.filter((e) => e.from.startsWith(own) && !e.to.startsWith(own)).map((e) => `${e.from} → ${e.to}`);
}

/** The assembled context (every part of a running platform) and the modules at the top that assemble and hand it out. */
const CONTEXT = 'platform/src/context.ts';
const TOP = ['platform/src/app.ts', 'platform/src/boot.ts', 'platform/src/main.ts', 'platform/src/index.ts'];

/** Imports of the assembled context by a module below the top: it should declare the deps it uses instead. */
function contextBelowTop(edges: Edge[]): string[] {
  return edges.filter((e) => e.to === CONTEXT && !TOP.includes(e.from)).map((e) => `${e.from} → ${e.to}`);
}

describe('module graph', () => {
  it('has no import cycle in any workspace (type-only imports count too)', () => {
    const edges = edgesUnder(WORKSPACES.map((w) => path.join(ROOT, w, 'src')));
    expect(edges.length).toBeGreaterThan(100);
    expect(cycles(edges)).toEqual([]);
  });

  it('finds a cycle when there is one (the scanner itself works)', () => {
    const edges: Edge[] = [
      { from: 'a.ts', to: 'b.ts', typeOnly: false },
      { from: 'b.ts', to: 'c.ts', typeOnly: true },
      { from: 'c.ts', to: 'a.ts', typeOnly: false },
      { from: 'c.ts', to: 'd.ts', typeOnly: false },
    ];
    expect(cycles(edges)).toEqual(['a.ts → b.ts → c.ts (type) → a.ts']);
  });

  // A router, service or handler declares its own small deps interface; only the top assembles the whole (app.ts).
  it('lets only the top of platform (app, boot, main, index) import the assembled context', () => {
    expect(contextBelowTop(edgesUnder([path.join(ROOT, 'platform', 'src')]))).toEqual([]);
  });

  it('finds a module below the top that imports the assembled context (the scanner itself works)', () => {
    const edges: Edge[] = [
      { from: 'platform/src/app.ts', to: CONTEXT, typeOnly: true },
      { from: 'platform/src/api/logs.ts', to: CONTEXT, typeOnly: true },
      { from: 'platform/src/api/logs.ts', to: 'platform/src/logger.ts', typeOnly: true },
    ];
    expect(contextBelowTop(edges)).toEqual([`platform/src/api/logs.ts → ${CONTEXT}`]);
  });

  // Helpers shared across workspaces are a declared entry point (`@bmms/<workspace>/testing`, like prisma's); code
  // a test needs from another workspace is an export of that package, never a path into its folder.
  it('never lets a file of one workspace reach into another by a relative path (src or test)', () => {
    const found = WORKSPACES.flatMap((workspace) => crossings(workspace, edgesUnder([path.join(ROOT, workspace)])));
    expect(found).toEqual([]);
  });

  it('finds a relative import into another workspace (the scanner itself works)', () => {
    const edges: Edge[] = [
      { from: 'platform/test/a.test.ts', to: 'reconciler/test/helpers.ts', typeOnly: false },
      { from: 'platform/test/b.test.ts', to: 'reconciler/src/runtimes/health.ts', typeOnly: false },
      { from: 'platform/test/c.test.ts', to: 'platform/test/harness.ts', typeOnly: false },
    ];
    expect(crossings('platform', edges)).toEqual([
      'platform/test/a.test.ts → reconciler/test/helpers.ts',
      'platform/test/b.test.ts → reconciler/src/runtimes/health.ts',
    ]);
  });
});
