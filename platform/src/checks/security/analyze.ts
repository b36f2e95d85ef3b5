import path from 'node:path';
import ts from 'typescript-api';
import type { Finding } from '../types.ts';
import { SECURITY_ALLOWLIST } from './allowlist.ts';
import { SECURITY_RULES, type SecurityRule } from './rules.ts';

const GLOBAL_OBJECTS: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.globalObjects);
const GLOBAL_FUNCTIONS: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.globalFunctions);
const ALLOWED_MODULES: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.modules);
const IMPORT_META: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.importMeta);

/** Globals with a rule of their own (a sharper message than `global-not-allowlisted`). */
const BANNED_GLOBALS: Readonly<Record<string, SecurityRule>> = {
  eval: 'no-eval',
  Function: 'no-function-constructor',
  require: 'no-require',
  module: 'no-require',
  exports: 'no-require',
  process: 'no-process',
  globalThis: 'no-global-object',
  global: 'no-global-object',
  self: 'no-global-object',
  window: 'no-global-object',
  frames: 'no-global-object',
  fetch: 'no-global-fetch',
  XMLHttpRequest: 'no-global-fetch',
  WebSocket: 'no-global-fetch',
  EventSource: 'no-global-fetch',
  navigator: 'no-global-fetch',
  WebAssembly: 'no-webassembly',
  Reflect: 'no-reflect-proxy',
  Proxy: 'no-reflect-proxy',
  Atomics: 'no-shared-memory',
  SharedArrayBuffer: 'no-shared-memory',
  Buffer: 'no-buffer',
  console: 'no-console',
};

/** Node built-in modules with a rule of their own (any other module outside the allowlist: `import-not-allowlisted`). */
const BANNED_MODULES: Readonly<Record<string, SecurityRule>> = {
  child_process: 'no-child-process',
  vm: 'no-vm',
  worker_threads: 'no-worker',
  cluster: 'no-worker',
  net: 'no-network-module',
  tls: 'no-network-module',
  dgram: 'no-network-module',
  http: 'no-network-module',
  https: 'no-network-module',
  http2: 'no-network-module',
  dns: 'no-network-module',
  'dns/promises': 'no-network-module',
  fs: 'no-fs',
  'fs/promises': 'no-fs',
  inspector: 'no-inspector',
  'inspector/promises': 'no-inspector',
  module: 'no-module-api',
  process: 'no-process',
};

/** Member names that reach prototypes or code constructors, whatever object they are read from. */
const PROTO_NAMES = new Set([
  '__proto__',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
/** Names a built member key must not spell (or be assembled towards). */
const DANGEROUS_NAMES = [
  'constructor',
  '__proto__',
  'prototype',
  'eval',
  'Function',
  'require',
  'process',
  'globalThis',
];
/** Calls whose first argument is mutated. */
const MUTATORS = new Set(['defineProperty', 'defineProperties', 'assign', 'setPrototypeOf', '__defineGetter__']);
/** Array methods that take a callback: `.map(String)`, `.filter(Boolean)`. */
const CALLBACK_METHODS = new Set([
  'map',
  'filter',
  'flatMap',
  'find',
  'findIndex',
  'findLast',
  'some',
  'every',
  'forEach',
  'then',
  'catch',
  'sort',
  'reduce',
]);
const OBFUSCATORS = new Set([
  'fromCharCode',
  'fromCodePoint',
  'atob',
  'unescape',
  'reverse',
  'decodeURIComponent',
  'decodeURI',
]);

interface Binding {
  init: ts.Expression | undefined;
  isConst: boolean;
  /** `module#name` for an import binding. */
  imported?: string;
  /** Declared by `export const/let/var`: code of other files (and callers) can read it. */
  exported?: boolean;
  /** An element of an array pattern (`const [a, ...rest] = …`). */
  arrayElement?: boolean;
}
type Scopes = Map<ts.Node, Map<string, Binding>>;

/** Analyses one file's text; `file` is repo-relative (`src/tools/x.ts`). Parses once, no type checker. */
export function analyzeSource(file: string, text: string): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2024, true, ts.ScriptKind.TS);
  const scopes = collectScopes(sf);
  const findings: Finding[] = [];
  const seen = new Set<string>();

  const report = (node: ts.Node, rule: SecurityRule, what: string): void => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const key = `${line}\0${rule}\0${what}`;
    if (seen.has(key)) return;
    seen.add(key);
    const { why, fix } = SECURITY_RULES[rule];
    findings.push({ file, line, rule, message: `${what}: ${why}`, fix });
  };

  const resolve = (id: ts.Identifier): Binding | undefined => {
    for (let n: ts.Node | undefined = id.parent; n; n = n.parent) {
      const found = scopes.get(n)?.get(id.text);
      if (found) return found;
    }
    return undefined;
  };
  const isGlobal = (e: ts.Node, names?: ReadonlySet<string>): e is ts.Identifier =>
    ts.isIdentifier(e) && (names === undefined || names.has(e.text)) && resolve(e) === undefined;
  const isBuiltin = (e: ts.Node): e is ts.Identifier =>
    ts.isIdentifier(e) && (GLOBAL_OBJECTS.has(e.text) || GLOBAL_FUNCTIONS.has(e.text)) && resolve(e) === undefined;

  // ---- constant folding of member keys -------------------------------------------------------
  const constValue = (e: ts.Expression, depth = 0): string | undefined => {
    if (depth > 8) return undefined;
    e = unwrap(e);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isNumericLiteral(e)) return e.text;
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const l = constValue(e.left, depth + 1);
      const r = l === undefined ? undefined : constValue(e.right, depth + 1);
      return l === undefined || r === undefined ? undefined : l + r;
    }
    if (ts.isTemplateExpression(e)) {
      let out = e.head.text;
      for (const span of e.templateSpans) {
        const v = constValue(span.expression, depth + 1);
        if (v === undefined) return undefined;
        out += v + span.literal.text;
      }
      return out;
    }
    if (ts.isIdentifier(e)) {
      const b = resolve(e);
      return b?.isConst && b.init ? constValue(b.init, depth + 1) : undefined;
    }
    if (ts.isCallExpression(e)) {
      const args = e.arguments.map((a) => constValue(a, depth + 1));
      const callee = unwrap(e.expression);
      if (ts.isIdentifier(callee) && args.length === 1 && args[0] !== undefined && resolve(callee) === undefined) {
        try {
          if (callee.text === 'atob') return atob(args[0]);
          if (callee.text === 'decodeURIComponent') return decodeURIComponent(args[0]);
        } catch {
          return undefined;
        }
      }
      if (!ts.isPropertyAccessExpression(callee) || args.some((a) => a === undefined)) return undefined;
      const strs = args as string[];
      const method = callee.name.text;
      if (
        isGlobal(callee.expression, new Set(['String'])) &&
        (method === 'fromCharCode' || method === 'fromCodePoint')
      ) {
        const codes = strs.map(Number);
        if (codes.some((c) => !Number.isInteger(c) || c < 0 || c > 0x10ffff)) return undefined;
        return String.fromCodePoint(...codes);
      }
      if (method === 'join') {
        const items = constArray(callee.expression, depth + 1);
        return items?.join(strs[0] ?? ',');
      }
      const base = constValue(callee.expression, depth + 1);
      if (base === undefined) return undefined;
      switch (method) {
        case 'toLowerCase':
          return base.toLowerCase();
        case 'toUpperCase':
          return base.toUpperCase();
        case 'trim':
          return base.trim();
        case 'concat':
          return base.concat(...strs);
        case 'slice':
          return base.slice(...strs.map(Number));
        case 'substring':
          return base.substring(Number(strs[0]), strs[1] === undefined ? undefined : Number(strs[1]));
        case 'replace':
          return strs.length === 2 ? base.replace(strs[0] as string, strs[1] as string) : undefined;
        case 'replaceAll':
          return strs.length === 2 ? base.replaceAll(strs[0] as string, strs[1] as string) : undefined;
        case 'repeat':
          return Number(strs[0]) <= 16 ? base.repeat(Number(strs[0])) : undefined;
      }
    }
    return undefined;
  };
  const constArray = (e: ts.Expression, depth: number): string[] | undefined => {
    e = unwrap(e);
    if (ts.isArrayLiteralExpression(e)) {
      const items = e.elements.map((x) => constValue(x, depth + 1));
      return items.some((x) => x === undefined) ? undefined : (items as string[]);
    }
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression)) {
      const method = e.expression.name.text;
      if (method === 'reverse' && e.arguments.length === 0)
        return constArray(e.expression.expression, depth + 1)?.reverse();
      if (method === 'split' && e.arguments.length === 1) {
        const base = constValue(e.expression.expression, depth + 1);
        const sep = constValue(e.arguments[0] as ts.Expression, depth + 1);
        return base === undefined || sep === undefined ? undefined : base.split(sep);
      }
    }
    if (ts.isIdentifier(e)) {
      const b = resolve(e);
      return b?.isConst && b.init ? constArray(b.init, depth + 1) : undefined;
    }
    return undefined;
  };
  /** True when a key is assembled in a way that hides a name: char codes, base64, reversing, or pieces of a dangerous name. */
  const isBuiltKey = (key: ts.Expression): boolean => {
    if (usesObfuscator(key)) return true;
    const pieces = fragments(key);
    return pieces.some(({ text: f, at }) => {
      if (f.length < 3) return false;
      return DANGEROUS_NAMES.some((name) =>
        at === 'start' ? name.startsWith(f) : at === 'end' ? name.endsWith(f) : name.includes(f),
      );
    });
  };
  const fragments = (e: ts.Expression): { text: string; at: 'start' | 'end' | 'middle' }[] => {
    const parts: (string | null)[] = [];
    const flatten = (x: ts.Expression): void => {
      x = unwrap(x);
      const v = constValue(x);
      if (v !== undefined) parts.push(v);
      else if (ts.isBinaryExpression(x) && x.operatorToken.kind === ts.SyntaxKind.PlusToken) {
        flatten(x.left);
        flatten(x.right);
      } else if (ts.isTemplateExpression(x)) {
        parts.push(x.head.text);
        for (const s of x.templateSpans) {
          flatten(s.expression);
          parts.push(s.literal.text);
        }
      } else parts.push(null);
    };
    flatten(e);
    return parts.flatMap((p, i) =>
      p === null || p === '' ? [] : [{ text: p, at: i === 0 ? 'start' : i === parts.length - 1 ? 'end' : 'middle' }],
    ) as { text: string; at: 'start' | 'end' | 'middle' }[];
  };
  const isNumericish = (e: ts.Expression, depth = 0): boolean => {
    e = unwrap(e);
    if (depth > 6) return false;
    if (ts.isNumericLiteral(e) || ts.isBigIntLiteral(e)) return true;
    // +x, -x, ~x, !x, x++ and --x always give a number, bigint or boolean, whatever x is.
    if (ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) return true;
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      // A number glued to a string gives digits, and no dangerous name has one.
      if (op === ts.SyntaxKind.PlusToken) return isNumericish(e.left, depth + 1) || isNumericish(e.right, depth + 1);
      if (op === ts.SyntaxKind.CommaToken) return isNumericish(e.right, depth + 1);
      if (
        op === ts.SyntaxKind.QuestionQuestionToken ||
        op === ts.SyntaxKind.BarBarToken ||
        op === ts.SyntaxKind.AmpersandAmpersandToken
      ) {
        return isNumericish(e.left, depth + 1) && isNumericish(e.right, depth + 1);
      }
      return !isAssignment(op);
    }
    if (ts.isConditionalExpression(e))
      return isNumericish(e.whenTrue, depth + 1) && isNumericish(e.whenFalse, depth + 1);
    // Not `.length`: an object of the code's own (or parsed JSON) can hold a string there.
    if (ts.isCallExpression(e)) {
      const c = unwrap(e.expression);
      return (
        (ts.isPropertyAccessExpression(c) && isGlobal(c.expression, new Set(['Math', 'Number']))) ||
        isGlobal(c, new Set(['Number', 'parseInt', 'parseFloat']))
      );
    }
    if (ts.isIdentifier(e)) {
      const b = resolve(e);
      if (b && !b.isConst && isIndexParameter(e.text, b)) return writesOf(e.text, b).length === 0;
      if (b?.init === undefined || !isNumericish(b.init, depth + 1)) return false;
      // A `let` stays numeric only while every assignment to it is numeric too.
      return b.isConst || writesOf(e.text, b).every((w) => w === null || (w !== false && isNumericish(w, depth + 1)));
    }
    return false;
  };

  /** The index parameter of an array callback written in place: `xs.map((x, i) => …)`, `xs.reduce((a, x, i) => …)`. */
  const isIndexParameter = (name: string, binding: Binding): boolean => {
    const decl = indexParams.get(binding);
    if (decl !== undefined) return decl;
    let found = false;
    for (const ref of refsOf(name, binding).slice(0, 1)) {
      const fn = ts.findAncestor(ref, (n) => ts.isFunctionLike(n) && scopes.get(n)?.get(name) === binding);
      if (!fn || !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))) break;
      const call = climbWrappers(fn).parent;
      if (!ts.isCallExpression(call) || call.arguments[0] !== climbWrappers(fn)) break;
      const callee = unwrap(call.expression);
      if (!ts.isPropertyAccessExpression(callee)) break;
      const at = own(INDEX_POSITION, callee.name.text);
      const param = fn.parameters[at ?? -1];
      // A receiver that is an object literal of the file could pass anything as the "index".
      const receiver = unwrap(callee.expression);
      // The receiver must visibly be an array: an object of the code's own (or a parameter) could pass any "index".
      const r = ts.isIdentifier(receiver) ? resolve(receiver) : undefined;
      const array = isArrayish(receiver) || (r !== undefined && (isArrayish(r.init) || r.arrayElement === true));
      found = param !== undefined && ts.isIdentifier(param.name) && param.name.text === name && array;
    }
    indexParams.set(binding, found);
    return found;
  };
  const indexParams = new Map<Binding, boolean>();

  // ---- references and data flow (one file, no type checker) ----------------------------------------
  let identifiers: Map<string, ts.Identifier[]> | undefined;
  /** Every identifier of the file that reads or writes the variable `binding` (declared as `name`). */
  const refsOf = (name: string, binding: Binding): ts.Identifier[] => {
    if (!identifiers) {
      const index = new Map<string, ts.Identifier[]>();
      const walk = (n: ts.Node): void => {
        if (ts.isIdentifier(n) && isValueReference(n)) {
          const list = index.get(n.text);
          if (list) list.push(n);
          else index.set(n.text, [n]);
        }
        ts.forEachChild(n, walk);
      };
      walk(sf);
      identifiers = index;
    }
    return (identifiers.get(name) ?? []).filter((id) => resolve(id) === binding);
  };
  /** What is written to a variable: the assigned expression, `null` for a numeric update (`i++`, `i += n`), `false` when unknown. */
  const writesOf = (name: string, binding: Binding): (ts.Expression | null | false)[] =>
    refsOf(name, binding).flatMap((id): (ts.Expression | null | false)[] => {
      const at = climbWrappers(id);
      const p = at.parent;
      if ((ts.isPrefixUnaryExpression(p) || ts.isPostfixUnaryExpression(p)) && isUpdate(p.operator)) return [null];
      if (ts.isBinaryExpression(p) && p.left === at && isAssignment(p.operatorToken.kind)) {
        const op = p.operatorToken.kind;
        if (op === ts.SyntaxKind.EqualsToken || isLogicalAssignment(op)) return [p.right];
        return [null]; // +=, -=, … on a number keep digits in the result
      }
      return isDestructuringTarget(at) ? [false] : [];
    });

  const PURE_SINKS = new Set(['String', 'Number', 'Boolean', 'isNaN', 'isFinite', 'parseInt', 'parseFloat']);
  const PURE_SINK_MEMBERS: Record<string, ReadonlySet<string>> = {
    JSON: new Set(['stringify']),
    Number: new Set(['isInteger', 'isFinite', 'isNaN', 'isSafeInteger', 'parseInt', 'parseFloat']),
    Array: new Set(['isArray']),
    Math: new Set(Object.getOwnPropertyNames(Math)),
  };
  /** Member names that, called on a value, call the value itself: `f.call(…)` is `f(…)`. */
  const INVOKERS = new Set(['call', 'apply', 'bind']);
  /** Keys that make an object's member run when the runtime serialises or awaits the object. */
  const HOOK_KEYS = new Set(['then', 'toJSON', 'toString', 'valueOf', 'get', 'set']);

  const isHandler = (fn: ts.Node): boolean => {
    const p = fn.parent;
    const named =
      (ts.isPropertyAssignment(p) && p.initializer === fn && propertyNameText(p.name) === 'handler') ||
      (ts.isMethodDeclaration(fn) && propertyNameText(fn.name) === 'handler');
    const literal = ts.isMethodDeclaration(fn) ? fn.parent : p.parent;
    if (!named || !literal || !ts.isObjectLiteralExpression(literal)) return false;
    const call = climbWrappers(literal).parent;
    if (!ts.isCallExpression(call) || call.arguments[0] !== climbWrappers(literal)) return false;
    const callee = unwrap(call.expression);
    return ts.isIdentifier(callee) && resolve(callee)?.imported === '@bmms/runner-template/runtime#defineTool';
  };

  /**
   * Whether a value (the result of a computed read) can only be used as data: compared, counted, formatted,
   * serialised by the runtime, never called, stored where code can reach it again, or written through.
   */
  const isContained = (e: ts.Node, member: string | undefined, seen: Set<Binding>, depth = 0): boolean => {
    if (depth > 24) return false;
    const at = climbWrappers(e);
    const p = at.parent;
    const next = (n: ts.Node, m?: string): boolean => isContained(n, m, seen, depth + 1);
    if (ts.isExpressionStatement(p) || ts.isTemplateSpan(p)) {
      return !(ts.isTemplateSpan(p) && ts.isTaggedTemplateExpression(p.parent.parent));
    }
    if (
      ts.isTypeOfExpression(p) ||
      ts.isVoidExpression(p) ||
      ts.isDeleteExpression(p) ||
      ts.isPrefixUnaryExpression(p) ||
      ts.isPostfixUnaryExpression(p)
    ) {
      return !(ts.isDeleteExpression(p) && member !== undefined);
    }
    if ((ts.isIfStatement(p) || ts.isWhileStatement(p) || ts.isDoStatement(p)) && p.expression === at) return true;
    if (ts.isForStatement(p) && p.condition === at) return true;
    if (ts.isSwitchStatement(p) || ts.isCaseClause(p) || ts.isForInStatement(p)) return true;
    if (ts.isConditionalExpression(p)) return p.condition === at || next(p);
    if (ts.isAwaitExpression(p)) return next(p);
    if (ts.isBinaryExpression(p)) {
      const op = p.operatorToken.kind;
      if (p.left === at && isAssignment(op)) {
        if (member !== undefined) return false; // writes through the value: o[k].x = …
        return op === ts.SyntaxKind.EqualsToken || !isLogicalAssignment(op) || next(p);
      }
      if (op === ts.SyntaxKind.EqualsToken || isLogicalAssignment(op)) {
        const target = unwrap(p.left);
        return ts.isIdentifier(target) && variableContained(target, seen, depth) && next(p);
      }
      if (op === ts.SyntaxKind.CommaToken) return p.left === at || next(p);
      if (
        op === ts.SyntaxKind.QuestionQuestionToken ||
        op === ts.SyntaxKind.BarBarToken ||
        op === ts.SyntaxKind.AmpersandAmpersandToken
      ) {
        return next(p);
      }
      return true; // arithmetic, comparison, in, instanceof
    }
    if (ts.isPropertyAccessExpression(p) && p.expression === at) return next(p, p.name.text);
    if (ts.isElementAccessExpression(p)) {
      if (p.argumentExpression === at) return true;
      const key = constValue(p.argumentExpression);
      return next(p, key ?? '');
    }
    if (ts.isCallExpression(p)) {
      if (p.expression === at) return member !== undefined && !INVOKERS.has(member) && next(p);
      const callee = unwrap(p.expression);
      if (ts.isIdentifier(callee)) return PURE_SINKS.has(callee.text) && resolve(callee) === undefined;
      return (
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        resolve(callee.expression) === undefined &&
        (own(PURE_SINK_MEMBERS, callee.expression.text)?.has(callee.name.text) ?? false)
      );
    }
    if (ts.isVariableDeclaration(p) && p.initializer === at) {
      const statement = p.parent.parent;
      const exported =
        ts.isVariableStatement(statement) &&
        (ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false);
      return !exported && ts.isIdentifier(p.name) && variableContained(p.name, seen, depth);
    }
    if (ts.isPropertyAssignment(p) && p.initializer === at && ts.isObjectLiteralExpression(p.parent)) {
      const key = ts.isComputedPropertyName(p.name) ? undefined : propertyNameText(p.name);
      return key !== undefined && !HOOK_KEYS.has(key) && next(p.parent);
    }
    if (ts.isShorthandPropertyAssignment(p) && ts.isObjectLiteralExpression(p.parent)) {
      return !HOOK_KEYS.has(p.name.text) && next(p.parent);
    }
    if (ts.isArrayLiteralExpression(p) || ts.isSpreadElement(p)) return next(ts.isSpreadElement(p) ? p.parent : p);
    if (ts.isSpreadAssignment(p)) return next(p.parent);
    if (ts.isReturnStatement(p) || (ts.isArrowFunction(p) && p.body === at)) {
      const fn = ts.isArrowFunction(p) ? p : ts.findAncestor(p, ts.isFunctionLike);
      return fn !== undefined && isHandler(fn);
    }
    return false;
  };
  /** Every read of a variable holding a value is contained (a `let` may be read after any assignment). */
  const variableContained = (name: ts.Identifier, seen: Set<Binding>, depth: number): boolean => {
    const binding = resolveDeclared(name);
    if (!binding || binding.exported) return false;
    if (seen.has(binding)) return true;
    seen.add(binding);
    return refsOf(name.text, binding).every((ref) => {
      if (ref === name) return true;
      const at = climbWrappers(ref);
      const p = at.parent;
      if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return true;
      return isContained(ref, undefined, seen, depth + 1);
    });
  };
  /** The binding a declaration name creates. */
  const resolveDeclared = (name: ts.Identifier): Binding | undefined => {
    for (let n: ts.Node | undefined = name.parent; n; n = n.parent) {
      const found = scopes.get(n)?.get(name.text);
      if (found) return found;
    }
    return undefined;
  };

  /**
   * Whether `read` (`o[k]`) sits where `Object.hasOwn(o, k)` holds, so it can only return an own property:
   * the then-branch of a check, the else-branch or the rest of a block after `if (!Object.hasOwn(o, k)) return`,
   * with nothing evaluated in between that could delete the property.
   */
  const isOwnGuarded = (read: ts.ElementAccessExpression): boolean => {
    const object = simpleRef(read.expression);
    const key = simpleRef(read.argumentExpression);
    if (object === undefined || key === undefined) return false;
    const isCheck = (c: ts.Expression): ts.CallExpression | undefined => {
      c = unwrap(c);
      if (!ts.isCallExpression(c) || c.arguments.length !== 2) return undefined;
      const [o, k] = c.arguments as unknown as [ts.Expression, ts.Expression];
      if (simpleRef(o) !== object || simpleRef(k) !== key) return undefined;
      const callee = unwrap(c.expression);
      if (!ts.isPropertyAccessExpression(callee)) return undefined;
      if (callee.name.text === 'hasOwn' && isGlobal(callee.expression, new Set(['Object']))) return c;
      // Object.prototype.hasOwnProperty.call(o, k)
      const inner = callee.expression;
      return callee.name.text === 'call' &&
        ts.isPropertyAccessExpression(inner) &&
        inner.name.text === 'hasOwnProperty' &&
        ts.isPropertyAccessExpression(inner.expression) &&
        inner.expression.name.text === 'prototype' &&
        isGlobal(inner.expression.expression, new Set(['Object']))
        ? c
        : undefined;
    };
    const holds = (c: ts.Expression): ts.CallExpression | undefined => {
      c = unwrap(c);
      if (ts.isBinaryExpression(c) && c.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken)
        return holds(c.left) ?? holds(c.right);
      return isCheck(c);
    };
    const fails = (c: ts.Expression): ts.CallExpression | undefined => {
      c = unwrap(c);
      if (ts.isBinaryExpression(c) && c.operatorToken.kind === ts.SyntaxKind.BarBarToken)
        return fails(c.left) ?? fails(c.right);
      return ts.isPrefixUnaryExpression(c) && c.operator === ts.SyntaxKind.ExclamationToken
        ? isCheck(c.operand)
        : undefined;
    };
    const clean = (guard: ts.Node | undefined): boolean => guard !== undefined && nothingRunsBetween(guard, read);
    for (let child: ts.Node = read, n = read.parent; n && !ts.isFunctionLike(child); child = n, n = n.parent) {
      if (ts.isConditionalExpression(n)) {
        if (child === n.whenTrue && clean(holds(n.condition))) return true;
        if (child === n.whenFalse && clean(fails(n.condition))) return true;
      } else if (ts.isBinaryExpression(n) && n.right === child) {
        const op = n.operatorToken.kind;
        if (op === ts.SyntaxKind.AmpersandAmpersandToken && clean(holds(n.left))) return true;
        if (op === ts.SyntaxKind.BarBarToken && clean(fails(n.left))) return true;
      } else if (ts.isIfStatement(n)) {
        if (child === n.thenStatement && clean(holds(n.expression))) return true;
        if (child === n.elseStatement && clean(fails(n.expression))) return true;
      } else if (ts.isBlock(n) || ts.isSourceFile(n) || ts.isCaseClause(n)) {
        const statements = n.statements;
        for (let i = statements.indexOf(child as ts.Statement) - 1; i >= 0; i--) {
          const s = statements[i] as ts.Statement;
          if (ts.isIfStatement(s) && !s.elseStatement && alwaysExits(s.thenStatement)) {
            if (clean(fails(s.expression))) return true;
          }
        }
      }
    }
    return false;
  };

  // ---- rules -------------------------------------------------------------------------------------
  const checkModule = (node: ts.Node, spec: ts.Expression, json: boolean, how: string): void => {
    if (!ts.isStringLiteralLike(spec)) {
      report(node, 'no-dynamic-import', `${how} with a computed specifier`);
      return;
    }
    const name = spec.text;
    if (name.startsWith('./') || name.startsWith('../')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), name));
      const ok = json
        ? (SECURITY_ALLOWLIST.jsonFiles as readonly string[]).includes(target)
        : target.startsWith('src/') &&
          !/[?#]/.test(name) &&
          SECURITY_ALLOWLIST.relativeExtensions.some((ext) => target.endsWith(ext));
      if (!ok) {
        const detail = json
          ? `${how} "${name}" as JSON (only ${SECURITY_ALLOWLIST.jsonFiles.join(', ')} may be)`
          : `${how} "${name}", which is not a .ts file under src/`;
        report(node, 'import-not-allowlisted', detail);
      }
      return;
    }
    const bare = name.startsWith('node:') ? name.slice(5) : name;
    const rule = own(BANNED_MODULES, bare);
    if (rule) report(node, rule, `${how} "${name}"`);
    else if (!ALLOWED_MODULES.has(name) || json) report(node, 'import-not-allowlisted', `${how} "${name}"`);
  };

  const checkMemberName = (node: ts.PropertyAccessExpression | ts.ElementAccessExpression, name: string): void => {
    const object = unwrap(node.expression);
    if (name === 'constructor') {
      const p = node.parent;
      const readsName = ts.isPropertyAccessExpression(p) && p.expression === node && p.name.text === 'name';
      if (!readsName && !isComparisonOperand(node)) report(node, 'no-constructor-access', 'reads .constructor');
    } else if (PROTO_NAMES.has(name)) {
      report(node, 'no-proto', `uses ${name}`);
    } else if (name === 'prototype') {
      const p = node.parent;
      const borrowsMethod =
        GLOBAL_OBJECTS.has(ts.isIdentifier(object) ? object.text : '') &&
        isBuiltin(object) &&
        ts.isPropertyAccessExpression(p) &&
        !PROTO_NAMES.has(p.name.text) &&
        p.name.text !== 'constructor' &&
        ts.isPropertyAccessExpression(p.parent) &&
        (p.parent.name.text === 'call' || p.parent.name.text === 'apply') &&
        ts.isCallExpression(p.parent.parent) &&
        p.parent.parent.expression === p.parent;
      const compares = isBuiltin(object) && isComparisonOperand(node);
      if (!borrowsMethod && !compares) report(node, 'no-prototype-access', `reads ${describe(node)}`);
    } else if (name === 'setPrototypeOf') {
      report(node, 'no-prototype-access', 'calls setPrototypeOf');
    } else if (name === 'getPrototypeOf') {
      const call = node.parent;
      if (!(ts.isCallExpression(call) && call.expression === node && isComparisonOperand(call))) {
        report(node, 'no-prototype-access', 'calls getPrototypeOf');
      }
    }
  };

  const checkGlobal = (id: ts.Identifier): void => {
    const name = id.text;
    const p = id.parent;
    if (GLOBAL_FUNCTIONS.has(name)) {
      if ((name === 'setTimeout' || name === 'setInterval') && ts.isCallExpression(p) && p.expression === id) {
        const first = p.arguments[0];
        if (
          first &&
          (ts.isStringLiteralLike(first) || ts.isTemplateExpression(first) || ts.isBinaryExpression(first))
        ) {
          report(id, 'no-eval', `passes a string of code to ${name}`);
        }
      }
      return;
    }
    if (GLOBAL_OBJECTS.has(name)) {
      // Look through casts: `(Math as Record<string, unknown>)[k]` is still Math.
      const o = climbWrappers(id);
      const q = o.parent;
      if (ts.isPropertyAccessExpression(q) && q.expression === o) return;
      if (ts.isElementAccessExpression(q) && q.expression === o) {
        if (constValue(q.argumentExpression) === undefined)
          report(id, 'no-computed-global-access', `indexes ${name} with a computed key`);
        return;
      }
      if ((ts.isCallExpression(q) || ts.isNewExpression(q)) && q.expression === o) return;
      if (ts.isCallExpression(q)) {
        const callee = unwrap(q.expression);
        const method = ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : ts.isIdentifier(callee)
            ? callee.text
            : '';
        if (MUTATORS.has(method) && q.arguments[0] === o)
          report(id, 'no-builtin-mutation', `passes ${name} to ${method}`);
        else if (!CALLBACK_METHODS.has(method)) report(id, 'no-builtin-alias', `passes ${name} as a value`);
        return;
      }
      if (ts.isBinaryExpression(q)) {
        const op = q.operatorToken.kind;
        if (op === ts.SyntaxKind.InstanceOfKeyword && q.right === o) return;
        if (isComparisonOperand(o)) return;
        if (isAssignment(op) && q.left === o) return; // reported as a mutation
      }
      if (ts.isTypeOfExpression(q) || ts.isExpressionWithTypeArguments(q)) return;
      report(id, 'no-builtin-alias', `stores ${name} under another name`);
      return;
    }
    if (name === 'process') {
      const outer = climbWrappers(id);
      const member = memberName(outer.parent, outer);
      if (member === 'env') {
        const key = memberName(outer.parent.parent, outer.parent);
        report(id, 'no-process-env', `reads process.env${key ? `.${key}` : ''}`);
      } else if (member === 'binding' || member === 'dlopen' || member === '_linkedBinding') {
        report(id, 'no-process-binding', `calls process.${member}`);
      } else report(id, 'no-process', member ? `uses process.${member}` : 'uses process');
      return;
    }
    const rule = own(BANNED_GLOBALS, name);
    if (rule === 'no-function-constructor') report(id, rule, 'uses the Function constructor');
    else if (rule === 'no-global-fetch' && name === 'fetch') report(id, rule, 'calls the global fetch');
    else if (rule) report(id, rule, `uses ${name}`);
    else report(id, 'global-not-allowlisted', `uses the global "${name}"`);
  };

  const checkMutationTarget = (target: ts.Expression, how: string): void => {
    target = unwrap(target);
    if (ts.isArrayLiteralExpression(target)) {
      for (const el of target.elements) checkMutationTarget(ts.isSpreadElement(el) ? el.expression : el, how);
      return;
    }
    if (ts.isObjectLiteralExpression(target)) {
      for (const prop of target.properties) {
        if (ts.isPropertyAssignment(prop)) checkMutationTarget(prop.initializer, how);
        else if (ts.isShorthandPropertyAssignment(prop)) checkMutationTarget(prop.name, how);
        else if (ts.isSpreadAssignment(prop)) checkMutationTarget(prop.expression, how);
      }
      return;
    }
    if (ts.isBinaryExpression(target) && target.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      checkMutationTarget(target.left, how);
      return;
    }
    let root: ts.Expression = target;
    while (ts.isPropertyAccessExpression(root) || ts.isElementAccessExpression(root)) root = unwrap(root.expression);
    if (isBuiltin(root)) report(target, 'no-builtin-mutation', `${how} ${describe(target)}`);
  };

  const checkComputedChain = (node: ts.ElementAccessExpression): void => {
    const inner = unwrap(node.expression);
    if (!ts.isElementAccessExpression(inner)) return;
    const keys = [inner.argumentExpression, node.argumentExpression];
    if (keys.some((k) => constValue(k) !== undefined || isNumericish(k))) return;
    const p = node.parent;
    const called = ts.isCallExpression(p) && p.expression === node;
    const assigned = ts.isBinaryExpression(p) && p.left === node && isAssignment(p.operatorToken.kind);
    if (called || assigned) report(node, 'no-computed-chain', `${called ? 'calls' : 'assigns to'} ${describe(node)}`);
  };

  /** `o[k]` with a key known only at run time: allowed when the value stays data or the read is own-only. */
  const checkDynamicRead = (node: ts.ElementAccessExpression): void => {
    const arg = unwrap(node.argumentExpression);
    if (isNumericish(arg) || isWellKnownSymbol(arg)) return;
    if (isBuiltin(unwrap(node.expression))) return; // no-computed-global-access names it
    const at = climbWrappers(node);
    const p = at.parent;
    if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) return;
    if (isDestructuringTarget(at)) return;
    if (isContained(node, undefined, new Set()) || isOwnGuarded(node)) return;
    report(node, 'no-dynamic-read', `reads ${describe(node)} with a key known only at run time and lets the value out`);
  };
  const isWellKnownSymbol = (e: ts.Expression): boolean =>
    ts.isPropertyAccessExpression(e) && isGlobal(e.expression, new Set(['Symbol'])) && !PROTO_NAMES.has(e.name.text);

  /** A destructured key (`const { constructor: F } = x`, `({ constructor }) =>`, `({ a: x } = o)`): as a member read. */
  const checkDestructuredKey = (node: ts.Node, key: string | undefined): void => {
    if (key === undefined) report(node, 'no-dynamic-read', 'destructures with a key known only at run time');
    else if (key === 'constructor') report(node, 'no-constructor-access', 'destructures "constructor"');
    else if (PROTO_NAMES.has(key)) report(node, 'no-proto', `destructures "${key}"`);
    else if (key === 'prototype' || key === 'getPrototypeOf' || key === 'setPrototypeOf')
      report(node, 'no-prototype-access', `destructures "${key}"`);
  };

  // ---- the walk ------------------------------------------------------------------------------------
  const visit = (node: ts.Node): void => {
    if (isAmbientStatement(node)) {
      report(node, 'no-ambient-declaration', `declares ${declaredName(node)} with \`declare\``);
      return;
    }
    if (ts.isImportDeclaration(node)) {
      if (!node.importClause?.isTypeOnly)
        checkModule(node, node.moduleSpecifier, hasJsonAttribute(node.attributes), 'imports');
      return;
    }
    if (ts.isExportDeclaration(node)) {
      if (node.isTypeOnly) return;
      if (node.moduleSpecifier) {
        checkModule(node, node.moduleSpecifier, hasJsonAttribute(node.attributes), 're-exports');
        return;
      }
    }
    if (ts.isImportEqualsDeclaration(node)) {
      if (ts.isExternalModuleReference(node.moduleReference)) report(node, 'no-require', 'uses import = require()');
      return;
    }
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isTypeParameterDeclaration(node))
      return;
    if (ts.isHeritageClause(node)) {
      if (node.token === ts.SyntaxKind.ExtendsKeyword && ts.isClassLike(node.parent)) {
        for (const t of node.types) visit(t.expression);
      }
      return;
    }
    if (ts.isExpressionWithTypeArguments(node)) {
      visit(node.expression);
      return;
    }
    if (ts.isTypeNode(node)) return;

    if (ts.isIdentifier(node)) {
      if (isValueReference(node) && resolve(node) === undefined) checkGlobal(node);
      return;
    }
    if (ts.isPropertyAccessExpression(node)) {
      checkMemberName(node, node.name.text);
    } else if (ts.isElementAccessExpression(node)) {
      const arg = unwrap(node.argumentExpression);
      const key = constValue(arg);
      if (key !== undefined) checkMemberName(node, key);
      const literal = ts.isStringLiteralLike(arg) || ts.isNumericLiteral(arg);
      const built =
        !literal && (key === undefined ? isBuiltKey(arg) : DANGEROUS_NAMES.includes(key) || usesObfuscator(arg));
      if (built) {
        const what = key === undefined ? 'indexes with an assembled key' : `spells "${key}" from pieces`;
        report(node, 'no-built-member-name', what);
      }
      checkComputedChain(node);
      if (key === undefined) checkDynamicRead(node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const spec = node.arguments[0];
      if (spec) checkModule(node, spec, hasJsonAttributeArg(node.arguments[1]), 'import()s');
    } else if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
      const p = node.parent;
      const member = ts.isPropertyAccessExpression(p) && p.expression === node ? p.name.text : undefined;
      if (member === undefined || !IMPORT_META.has(member))
        report(node, 'no-import-meta', `uses import.meta${member ? `.${member}` : ''}`);
    } else if (ts.isBinaryExpression(node) && isAssignment(node.operatorToken.kind)) {
      checkMutationTarget(node.left, 'assigns to');
    } else if (ts.isDeleteExpression(node)) {
      checkMutationTarget(node.expression, 'deletes');
    } else if (
      (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
      (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)
    ) {
      checkMutationTarget(node.operand, 'changes');
    } else if (ts.isWithStatement(node)) {
      report(node, 'no-with', 'uses a with statement');
    } else if (node.kind === ts.SyntaxKind.DebuggerStatement) {
      report(node, 'no-debugger', 'has a debugger statement');
    } else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
      const name = node.propertyName;
      if (!name) checkDestructuredKey(node, ts.isIdentifier(node.name) ? node.name.text : undefined);
      else if (ts.isComputedPropertyName(name)) {
        if (!isWellKnownSymbol(unwrap(name.expression))) checkDestructuredKey(node, constValue(name.expression));
      } else checkDestructuredKey(node, propertyNameText(name));
    } else if (
      ts.isPropertyAssignment(node) ||
      ts.isShorthandPropertyAssignment(node) ||
      ts.isMethodDeclaration(node)
    ) {
      const key = ts.isComputedPropertyName(node.name) ? constValue(node.name.expression) : propertyNameText(node.name);
      if (ts.isObjectLiteralExpression(node.parent) && isDestructuringTarget(node.parent)) {
        const symbol = ts.isComputedPropertyName(node.name) && isWellKnownSymbol(unwrap(node.name.expression));
        if (!symbol) checkDestructuredKey(node, key);
      } else if (key !== undefined && PROTO_NAMES.has(key) && ts.isObjectLiteralExpression(node.parent)) {
        report(node, 'no-proto', `sets ${key} in an object literal`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings;
}

/** A table entry by a name taken from the checked code: own properties only (a name may be "constructor"). */
function own<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Where the element index sits among an array callback's parameters. */
const INDEX_POSITION: Readonly<Record<string, number>> = {
  map: 1,
  forEach: 1,
  filter: 1,
  flatMap: 1,
  some: 1,
  every: 1,
  find: 1,
  findIndex: 1,
  findLast: 1,
  findLastIndex: 1,
  reduce: 2,
  reduceRight: 2,
};

/** Whether an initializer visibly builds an array (not an object of the code's own with a `map` method). */
function isArrayish(init: ts.Expression | undefined): boolean {
  if (!init) return false;
  const e = unwrap(init);
  if (ts.isArrayLiteralExpression(e)) return true;
  if (!ts.isCallExpression(e)) return false;
  const callee = unwrap(e.expression);
  if (!ts.isPropertyAccessExpression(callee)) return false;
  const base = unwrap(callee.expression);
  // Array.from(…), Object.keys(…): built-ins, which the rules keep from being replaced.
  if (ts.isIdentifier(base) && (base.text === 'Array' || base.text === 'Object'))
    return ['from', 'of', 'keys', 'values', 'entries'].includes(callee.name.text);
  return ARRAY_METHODS.has(callee.name.text) && (ts.isStringLiteralLike(base) || isArrayish(base));
}
/** Methods that return a new array when called on an array (or, for split, on a string). */
const ARRAY_METHODS = new Set([
  'map',
  'filter',
  'slice',
  'concat',
  'flat',
  'flatMap',
  'toSorted',
  'toReversed',
  'split',
]);

/** An identifier a guard and a read can both name (`o` in `Object.hasOwn(o, k)` and `o[k]`); getters rule out anything longer. */
function simpleRef(e: ts.Expression): string | undefined {
  e = unwrap(e);
  return ts.isIdentifier(e) ? e.text : undefined;
}

/**
 * Whether nothing that can run code (a call, a member read that may hit a getter, an assignment, a delete) is
 * evaluated between a guard and the read it guards, counting a whole loop that holds the read but not the guard.
 */
function nothingRunsBetween(guard: ts.Node, read: ts.Node): boolean {
  const from = guard.getEnd();
  let to = read.getStart();
  for (let n: ts.Node | undefined = read.parent; n && n.pos > from; n = n.parent) {
    if (ts.isIterationStatement(n, false)) to = Math.max(to, n.getEnd());
  }
  let ok = true;
  const walk = (n: ts.Node): void => {
    if (!ok || n.getEnd() <= from || n.pos >= to) return;
    const inside = n.getStart() >= from && n.getEnd() <= to;
    if (inside && n !== read && runsCode(n)) {
      ok = false;
      return;
    }
    ts.forEachChild(n, walk);
  };
  walk(read.getSourceFile());
  return ok;
}

function runsCode(n: ts.Node): boolean {
  return (
    ts.isCallExpression(n) ||
    ts.isNewExpression(n) ||
    ts.isTaggedTemplateExpression(n) ||
    ts.isPropertyAccessExpression(n) ||
    ts.isElementAccessExpression(n) ||
    ts.isDeleteExpression(n) ||
    ts.isAwaitExpression(n) ||
    ts.isYieldExpression(n) ||
    (ts.isBinaryExpression(n) && isAssignment(n.operatorToken.kind)) ||
    ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && isUpdate(n.operator))
  );
}

function alwaysExits(s: ts.Statement): boolean {
  if (ts.isReturnStatement(s) || ts.isThrowStatement(s) || ts.isContinueStatement(s) || ts.isBreakStatement(s))
    return true;
  const last = ts.isBlock(s) ? s.statements.at(-1) : undefined;
  return last !== undefined && alwaysExits(last);
}

function isUpdate(op: ts.SyntaxKind): boolean {
  return op === ts.SyntaxKind.PlusPlusToken || op === ts.SyntaxKind.MinusMinusToken;
}

function isLogicalAssignment(op: ts.SyntaxKind): boolean {
  return (
    op === ts.SyntaxKind.QuestionQuestionEqualsToken ||
    op === ts.SyntaxKind.BarBarEqualsToken ||
    op === ts.SyntaxKind.AmpersandAmpersandEqualsToken
  );
}

/** Whether an expression is (part of) the left side of a destructuring assignment: `({ a: x } = o)`, `for ([k] of xs)`. */
function isDestructuringTarget(node: ts.Node): boolean {
  const at = climbWrappers(node);
  const p = at.parent;
  if (ts.isBinaryExpression(p) && p.left === at && p.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    // `x = 1` as a default inside a pattern is a target only when the pattern is.
    const q = climbWrappers(p).parent;
    const inPattern =
      ts.isArrayLiteralExpression(q) ||
      (ts.isPropertyAssignment(q) && q.initializer === climbWrappers(p)) ||
      ts.isShorthandPropertyAssignment(q);
    return inPattern ? isDestructuringTarget(ts.isArrayLiteralExpression(q) ? q : q.parent) : true;
  }
  if ((ts.isForOfStatement(p) || ts.isForInStatement(p)) && p.initializer === at) return true;
  if (ts.isArrayLiteralExpression(p)) return isDestructuringTarget(p);
  if (ts.isSpreadElement(p)) return isDestructuringTarget(p.parent);
  if (ts.isPropertyAssignment(p) && p.initializer === at) return isDestructuringTarget(p.parent);
  if (ts.isSpreadAssignment(p)) return isDestructuringTarget(p.parent);
  return false;
}

/** Whether an expression calls something that hides text: char codes, base64, URI decoding, reversing. */
function usesObfuscator(e: ts.Node): boolean {
  if (ts.isIdentifier(e)) return OBFUSCATORS.has(e.text);
  return ts.forEachChild(e, usesObfuscator) ?? false;
}

function collectScopes(sf: ts.SourceFile): Scopes {
  const scopes: Scopes = new Map();
  const declare = (
    scope: ts.Node,
    name: string,
    init?: ts.Expression,
    isConst = false,
    extra?: Partial<Binding>,
  ): void => {
    let names = scopes.get(scope);
    if (!names) {
      names = new Map();
      scopes.set(scope, names);
    }
    names.set(name, { init, isConst, ...extra });
  };
  const declareBinding = (
    scope: ts.Node,
    name: ts.BindingName,
    init?: ts.Expression,
    isConst = false,
    extra?: Partial<Binding>,
  ): void => {
    if (ts.isIdentifier(name)) declare(scope, name.text, init, isConst, extra);
    else {
      const arrayElement = ts.isArrayBindingPattern(name);
      for (const el of name.elements) {
        if (!ts.isOmittedExpression(el)) declareBinding(scope, el.name, undefined, false, { ...extra, arrayElement });
      }
    }
  };
  const visit = (node: ts.Node): void => {
    if (isAmbientStatement(node)) return;
    if (ts.isVariableDeclaration(node)) {
      const list = node.parent;
      if (ts.isVariableDeclarationList(list)) {
        const blockScoped = (list.flags & ts.NodeFlags.BlockScoped) !== 0;
        const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
        const scope = blockScoped ? blockScope(list.parent) : functionScope(list);
        const statement = list.parent;
        const exported =
          ts.isVariableStatement(statement) &&
          (ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false);
        declareBinding(scope, node.name, node.initializer, isConst, exported ? { exported } : undefined);
      } else if (ts.isCatchClause(list)) declareBinding(list, node.name);
    } else if (ts.isParameter(node)) {
      declareBinding(node.parent, node.name);
    } else if (
      ts.isFunctionDeclaration(node) ||
      ts.isClassDeclaration(node) ||
      ts.isEnumDeclaration(node) ||
      ts.isModuleDeclaration(node)
    ) {
      if (node.name && ts.isIdentifier(node.name)) declare(blockScope(node.parent), node.name.text);
    } else if ((ts.isFunctionExpression(node) || ts.isClassExpression(node)) && node.name) {
      declare(node, node.name.text);
    } else if (ts.isImportClause(node) && !node.isTypeOnly) {
      if (node.name) declare(sf, node.name.text);
      const bindings = node.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) declare(sf, bindings.name.text);
      else if (bindings) {
        const from = ts.isStringLiteral(node.parent.moduleSpecifier) ? node.parent.moduleSpecifier.text : '';
        for (const s of bindings.elements) {
          if (!s.isTypeOnly)
            declare(sf, s.name.text, undefined, false, { imported: `${from}#${(s.propertyName ?? s.name).text}` });
        }
      }
    } else if (ts.isImportEqualsDeclaration(node) && !node.isTypeOnly) {
      declare(sf, node.name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return scopes;
}

function blockScope(start: ts.Node): ts.Node {
  for (let n: ts.Node | undefined = start; n; n = n.parent) {
    if (
      ts.isBlock(n) ||
      ts.isSourceFile(n) ||
      ts.isModuleBlock(n) ||
      ts.isCaseBlock(n) ||
      ts.isForStatement(n) ||
      ts.isForInStatement(n) ||
      ts.isForOfStatement(n) ||
      ts.isClassStaticBlockDeclaration(n)
    ) {
      return n;
    }
  }
  return start.getSourceFile();
}

function functionScope(start: ts.Node): ts.Node {
  for (let n: ts.Node | undefined = start; n; n = n.parent) {
    if (ts.isFunctionLike(n) || ts.isSourceFile(n) || ts.isClassStaticBlockDeclaration(n)) return n;
  }
  return start.getSourceFile();
}

/** Whether an identifier is read as a value (not a property name, declaration name, label or type). */
function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p)) return p.expression === id;
  if (ts.isPropertyAssignment(p)) return p.initializer === id;
  if (ts.isShorthandPropertyAssignment(p)) return true;
  if (
    ts.isVariableDeclaration(p) ||
    ts.isParameter(p) ||
    ts.isBindingElement(p) ||
    ts.isPropertyDeclaration(p) ||
    ts.isEnumMember(p)
  ) {
    return p.initializer === id;
  }
  if (ts.isExportSpecifier(p)) {
    const decl = p.parent.parent;
    return !decl.moduleSpecifier && !decl.isTypeOnly && !p.isTypeOnly && (p.propertyName ?? p.name) === id;
  }
  return !(
    ts.isQualifiedName(p) ||
    ts.isFunctionDeclaration(p) ||
    ts.isFunctionExpression(p) ||
    ts.isClassDeclaration(p) ||
    ts.isClassExpression(p) ||
    ts.isMethodDeclaration(p) ||
    ts.isGetAccessorDeclaration(p) ||
    ts.isSetAccessorDeclaration(p) ||
    ts.isPropertySignature(p) ||
    ts.isMethodSignature(p) ||
    ts.isInterfaceDeclaration(p) ||
    ts.isTypeAliasDeclaration(p) ||
    ts.isEnumDeclaration(p) ||
    ts.isModuleDeclaration(p) ||
    ts.isTypeParameterDeclaration(p) ||
    ts.isLabeledStatement(p) ||
    ts.isBreakOrContinueStatement(p) ||
    ts.isImportSpecifier(p) ||
    ts.isImportClause(p) ||
    ts.isNamespaceImport(p) ||
    ts.isNamespaceExport(p) ||
    ts.isImportEqualsDeclaration(p) ||
    ts.isMetaProperty(p) ||
    ts.isImportAttribute(p) ||
    ts.isNamedTupleMember(p)
  );
}

function isAmbientStatement(node: ts.Node): boolean {
  if (!ts.canHaveModifiers(node)) return false;
  const parent = node.parent;
  if (!parent || !(ts.isSourceFile(parent) || ts.isBlock(parent) || ts.isModuleBlock(parent))) return false;
  return ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword) ?? false;
}

function declaredName(node: ts.Node): string {
  if (ts.isVariableStatement(node)) {
    return node.declarationList.declarations.map((d) => `"${d.name.getText()}"`).join(', ');
  }
  const name = (node as { name?: ts.Node }).name;
  return name ? `"${name.getText()}"` : 'a global';
}

function isAssignment(op: ts.SyntaxKind): boolean {
  return op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment;
}

function unwrap(e: ts.Expression): ts.Expression {
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isSatisfiesExpression(e) ||
    ts.isTypeAssertionExpression(e)
  ) {
    e = e.expression;
  }
  return e;
}

/** The outermost of `(x)`, `x as T`, `x!`, `x satisfies T` around a node. */
function climbWrappers(node: ts.Node): ts.Node {
  let n = node;
  while (
    ts.isParenthesizedExpression(n.parent) ||
    ts.isAsExpression(n.parent) ||
    ts.isNonNullExpression(n.parent) ||
    ts.isSatisfiesExpression(n.parent) ||
    ts.isTypeAssertionExpression(n.parent)
  ) {
    n = n.parent;
  }
  return n;
}

function isComparisonOperand(node: ts.Node): boolean {
  let n = node;
  while (ts.isParenthesizedExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (!ts.isBinaryExpression(p)) return false;
  const op = p.operatorToken.kind;
  return (
    op === ts.SyntaxKind.EqualsEqualsEqualsToken ||
    op === ts.SyntaxKind.ExclamationEqualsEqualsToken ||
    op === ts.SyntaxKind.EqualsEqualsToken ||
    op === ts.SyntaxKind.ExclamationEqualsToken
  );
}

/** The member name read from `object` when `parent` is `object.name` or `object['name']`. */
function memberName(parent: ts.Node, object: ts.Node): string | undefined {
  if (ts.isPropertyAccessExpression(parent) && parent.expression === object) return parent.name.text;
  if (ts.isElementAccessExpression(parent) && parent.expression === object) {
    const arg = unwrap(parent.argumentExpression);
    return ts.isStringLiteralLike(arg) ? arg.text : undefined;
  }
  return undefined;
}

function propertyNameText(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isPrivateIdentifier(name)) {
    return name.text;
  }
  return undefined;
}

function hasJsonAttribute(attributes: ts.ImportAttributes | undefined): boolean {
  return (
    attributes?.elements.some(
      (a) => a.name.text === 'type' && ts.isStringLiteralLike(a.value) && a.value.text === 'json',
    ) ?? false
  );
}

function hasJsonAttributeArg(options: ts.Expression | undefined): boolean {
  if (!options || !ts.isObjectLiteralExpression(options)) return false;
  return options.properties.some(
    (p) =>
      ts.isPropertyAssignment(p) &&
      propertyNameText(p.name) === 'with' &&
      ts.isObjectLiteralExpression(p.initializer) &&
      p.initializer.properties.some(
        (q) =>
          ts.isPropertyAssignment(q) &&
          propertyNameText(q.name) === 'type' &&
          ts.isStringLiteralLike(q.initializer) &&
          q.initializer.text === 'json',
      ),
  );
}

/** A short source excerpt for messages (`Array.prototype.some`), cut at 60 characters. */
function describe(node: ts.Node): string {
  const text = node.getText().replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
