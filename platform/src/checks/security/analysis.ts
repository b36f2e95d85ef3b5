import ts from 'typescript-api';
import type { Finding } from '../types.ts';
import { SECURITY_RULES, type SecurityRule } from './rules.ts';
import { FileScopes } from './scopes.ts';

/** One file under analysis: its parse and scopes, and the findings so far (one per line, rule and subject). */
export class Analysis extends FileScopes {
  /** Repo-relative (`src/tools/x.ts`). */
  readonly file: string;
  readonly findings: Finding[] = [];
  readonly #seen = new Set<string>();

  constructor(file: string, text: string) {
    super(ts.createSourceFile(file, text, ts.ScriptTarget.ES2024, true, ts.ScriptKind.TS));
    this.file = file;
  }

  /** Records that `node` breaks `rule`; `what` says how (`calls the global fetch`). */
  report(node: ts.Node, rule: SecurityRule, what: string): void {
    const line = this.sf.getLineAndCharacterOfPosition(node.getStart(this.sf)).line + 1;
    const key = `${line}\0${rule}\0${what}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    const { why, fix } = SECURITY_RULES[rule];
    this.findings.push({ file: this.file, line, rule, message: `${what}: ${why}`, fix });
  }
}
