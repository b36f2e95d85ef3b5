/** One problem found in a manifest or spec: a dotted path (`tools[0].name`, `(root)`) and a message. */
export interface Issue {
  path: string;
  message: string;
}

/** Base class: every error here carries a stable `code` for logs and API responses. */
export class RunnerTemplateError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** `mcp.json` (or a ServerSpec) is not valid JSON or breaks the schema; `issues` lists every problem. */
export class ManifestError extends RunnerTemplateError {
  readonly issues: Issue[];
  constructor(issues: Issue[], what = 'mcp.json') {
    super('manifest_invalid', `${what} is invalid:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.issues = issues;
  }
}

/** `renderTemplate` was asked for a template that does not exist. */
export class UnknownTemplateError extends RunnerTemplateError {
  readonly template: string;
  readonly known: string[];
  constructor(template: string, known: string[]) {
    super('unknown_template', `Unknown template "${template}". Known templates: ${known.join(', ')}`);
    this.template = template;
    this.known = known;
  }
}

/** The options passed to a template are invalid. */
export class TemplateOptionsError extends RunnerTemplateError {
  readonly issues: Issue[];
  constructor(template: string, issues: Issue[]) {
    super(
      'invalid_template_options',
      `Options for template "${template}" are invalid:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
    this.issues = issues;
  }
}

/** The tools implemented in `src/tools/` do not match the tools declared in `mcp.json`. */
export class ToolMismatchError extends RunnerTemplateError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('tool_mismatch', `Tools do not match mcp.json:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** `ctx.fetch` was called for a host that is not in the manifest's `egress` allowlist. */
export class EgressDeniedError extends RunnerTemplateError {
  readonly host: string;
  /** The egress-policy rule it broke (`egress_host_not_allowed`, `egress_port_not_allowed`, `egress_scheme_not_allowed`). */
  readonly rule: string;
  constructor(host: string, reason?: string, rule = 'egress_host_not_allowed') {
    super(
      'egress_denied',
      reason ??
        `Egress to "${host}" is not allowed: add it to "egress" in mcp.json (as "${host}") to let tools reach it.`,
    );
    this.host = host;
    this.rule = rule;
  }
}

/** `ctx.secret` was called with a name that `mcp.json` does not declare in `secrets`. */
export class SecretNotDeclaredError extends RunnerTemplateError {
  readonly secret: string;
  constructor(name: string) {
    super('secret_not_declared', `Secret "${name}" is not declared: add "${name}" to "secrets" in mcp.json.`);
    this.secret = name;
  }
}

/** A declared secret has no value in this instance's environment. */
export class SecretMissingError extends RunnerTemplateError {
  readonly secret: string;
  constructor(name: string) {
    super('secret_missing', `Secret "${name}" is declared but has no value: set it for this server on the platform.`);
    this.secret = name;
  }
}

/** A tool call ran longer than `limits.timeoutMs`. */
export class ToolTimeoutError extends RunnerTemplateError {
  readonly tool: string;
  readonly timeoutMs: number;
  constructor(tool: string, timeoutMs: number) {
    super('tool_timeout', `Tool "${tool}" timed out after ${timeoutMs} ms.`);
    this.tool = tool;
    this.timeoutMs = timeoutMs;
  }
}
