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
    if (ts.isNumericLiteral(e)) return true;
    if (ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e)) return isNumericish(e.operand, depth + 1);
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op === ts.SyntaxKind.PlusToken) return isNumericish(e.left, depth + 1) || isNumericish(e.right, depth + 1);
      return op !== ts.SyntaxKind.CommaToken && op !== ts.SyntaxKind.QuestionQuestionToken && !isAssignment(op);
    }
    if (ts.isPropertyAccessExpression(e)) return e.name.text === 'length';
    if (ts.isCallExpression(e)) {
      const c = unwrap(e.expression);
      return (
        (ts.isPropertyAccessExpression(c) && isGlobal(c.expression, new Set(['Math']))) ||
        isGlobal(c, new Set(['Number', 'parseInt', 'parseFloat']))
      );
    }
    if (ts.isIdentifier(e)) {
      const b = resolve(e);
      return b?.init !== undefined && isNumericish(b.init, depth + 1);
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
    const rule = BANNED_MODULES[bare];
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
    const rule = BANNED_GLOBALS[name];
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
    } else if (
      ts.isPropertyAssignment(node) ||
      ts.isShorthandPropertyAssignment(node) ||
      ts.isMethodDeclaration(node)
    ) {
      const key = ts.isComputedPropertyName(node.name) ? constValue(node.name.expression) : propertyNameText(node.name);
      if (key !== undefined && PROTO_NAMES.has(key) && ts.isObjectLiteralExpression(node.parent)) {
        report(node, 'no-proto', `sets ${key} in an object literal`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings;
}

/** Whether an expression calls something that hides text: char codes, base64, URI decoding, reversing. */
function usesObfuscator(e: ts.Node): boolean {
  if (ts.isIdentifier(e)) return OBFUSCATORS.has(e.text);
  return ts.forEachChild(e, usesObfuscator) ?? false;
}

function collectScopes(sf: ts.SourceFile): Scopes {
  const scopes: Scopes = new Map();
  const declare = (scope: ts.Node, name: string, init?: ts.Expression, isConst = false): void => {
    let names = scopes.get(scope);
    if (!names) {
      names = new Map();
      scopes.set(scope, names);
    }
    names.set(name, { init, isConst });
  };
  const declareBinding = (scope: ts.Node, name: ts.BindingName, init?: ts.Expression, isConst = false): void => {
    if (ts.isIdentifier(name)) declare(scope, name.text, init, isConst);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) declareBinding(scope, el.name);
  };
  const visit = (node: ts.Node): void => {
    if (isAmbientStatement(node)) return;
    if (ts.isVariableDeclaration(node)) {
      const list = node.parent;
      if (ts.isVariableDeclarationList(list)) {
        const blockScoped = (list.flags & ts.NodeFlags.BlockScoped) !== 0;
        const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
        const scope = blockScoped ? blockScope(list.parent) : functionScope(list);
        declareBinding(scope, node.name, node.initializer, isConst);
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
      else if (bindings) for (const s of bindings.elements) if (!s.isTypeOnly) declare(sf, s.name.text);
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
