import ts from 'typescript-api';
import { SECURITY_ALLOWLIST } from './allowlist.ts';
import {
  climbWrappers,
  isAmbientStatement,
  isAssignment,
  isDestructuringTarget,
  isLogicalAssignment,
  isUpdate,
  isValueReference,
} from './syntax.ts';

/** Globals that are values (constructors, namespaces): callable and readable, never mutated or aliased. */
export const GLOBAL_OBJECTS: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.globalObjects);
/** Global functions the code may call. */
export const GLOBAL_FUNCTIONS: ReadonlySet<string> = new Set(SECURITY_ALLOWLIST.globalFunctions);

/** One variable of the checked file, as its declaration shows it. */
export interface Binding {
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

/**
 * The variables of one file (one parse, no type checker): which declaration an identifier names, and
 * every place a variable is read or written.
 */
export class FileScopes {
  readonly sf: ts.SourceFile;
  readonly #scopes: Scopes;
  /** Every value reference of the file by name, built on the first question that needs it. */
  #identifiers: Map<string, ts.Identifier[]> | undefined;

  constructor(sf: ts.SourceFile) {
    this.sf = sf;
    this.#scopes = collectScopes(sf);
  }

  /** The binding an identifier names (for a declaration name: the one it creates); undefined for a global. */
  resolve(id: ts.Identifier): Binding | undefined {
    for (let n: ts.Node | undefined = id.parent; n; n = n.parent) {
      const found = this.#scopes.get(n)?.get(id.text);
      if (found) return found;
    }
    return undefined;
  }

  /** The binding `name` has in `scope` itself (a function's own parameter, say). */
  bindingIn(scope: ts.Node, name: string): Binding | undefined {
    return this.#scopes.get(scope)?.get(name);
  }

  /** Whether `e` is a global (one of `names`, when given) that no declaration of the file shadows. */
  isGlobal(e: ts.Node, names?: ReadonlySet<string>): e is ts.Identifier {
    return ts.isIdentifier(e) && (names === undefined || names.has(e.text)) && this.resolve(e) === undefined;
  }

  /** Whether `e` is an allowlisted built-in (`Object`, `Math`, `setTimeout`…) that no declaration shadows. */
  isBuiltin(e: ts.Node): e is ts.Identifier {
    return (
      ts.isIdentifier(e) &&
      (GLOBAL_OBJECTS.has(e.text) || GLOBAL_FUNCTIONS.has(e.text)) &&
      this.resolve(e) === undefined
    );
  }

  /** Every identifier of the file that reads or writes the variable `binding` (declared as `name`). */
  refsOf(name: string, binding: Binding): ts.Identifier[] {
    if (!this.#identifiers) {
      const index = new Map<string, ts.Identifier[]>();
      const walk = (n: ts.Node): void => {
        if (ts.isIdentifier(n) && isValueReference(n)) {
          const list = index.get(n.text);
          if (list) list.push(n);
          else index.set(n.text, [n]);
        }
        ts.forEachChild(n, walk);
      };
      walk(this.sf);
      this.#identifiers = index;
    }
    return (this.#identifiers.get(name) ?? []).filter((id) => this.resolve(id) === binding);
  }

  /** What is written to a variable: the assigned expression, `null` for a numeric update (`i++`, `i += n`), `false` when unknown. */
  writesOf(name: string, binding: Binding): (ts.Expression | null | false)[] {
    return this.refsOf(name, binding).flatMap((id): (ts.Expression | null | false)[] => {
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
  }
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
