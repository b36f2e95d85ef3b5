/** Base class: every reconciler error has a stable `code` and structured `data`. */
export class ReconcilerError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;
  constructor(code: string, message: string, data: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
}

/** esbuild could not bundle the tree; `lines` are `file:line: message`, ready to show the user. */
export class BundleError extends ReconcilerError {
  readonly status = 422;
  readonly lines: string[];
  constructor(lines: string[], options?: ErrorOptions) {
    super('bundle_failed', `Bundle failed. Fix these and push again:\n${lines.join('\n')}`, { lines }, options);
    this.lines = lines;
  }
}

/** A view (MCP Apps) of the tree could not be built into one HTML file; `lines` are `file:line: message`. */
export class ViewBuildError extends ReconcilerError {
  readonly status = 422;
  readonly lines: string[];
  constructor(lines: string[], options?: ErrorOptions) {
    super(
      'view_build_failed',
      `A view did not build. Fix these and push again:\n${lines.join('\n')}`,
      { lines },
      options,
    );
    this.lines = lines;
  }
}

/** The instance did not answer /healthz before the start timeout (or exited first); `logs` are its last lines. */
export class InstanceStartError extends ReconcilerError {
  readonly logs: string[];
  constructor(message: string, logs: string[], data: Record<string, unknown> = {}) {
    const tail = logs.length > 0 ? `\nLast log lines:\n${logs.join('\n')}` : '';
    super('instance_start_failed', `${message}${tail}`, { ...data, logs });
    this.logs = logs;
  }
}

/**
 * bubblewrap (or setpriv/prlimit) is missing, the confined runtime cannot stand in (`also`, e.g. no Node ≥ 25) and
 * the runtime was not started with `insecure: true`.
 */
export class SandboxUnavailableError extends ReconcilerError {
  constructor(missing: string, also?: string) {
    super(
      'sandbox_unavailable',
      `Cannot sandbox instances: ${missing} not found${also ? ` ${also}` : ''}. Install bubblewrap (apt-get install bubblewrap) or start with insecure mode (development only).`,
      { missing, ...(also ? { also } : {}) },
    );
  }
}

export type ProbeFailure = 'HealthFailed' | 'InitializeFailed' | 'ToolsMismatch';

/** A started instance failed its readiness probe (health, MCP initialize, or tool surface vs manifest). */
export class ProbeError extends ReconcilerError {
  readonly reason: ProbeFailure;
  constructor(reason: ProbeFailure, message: string, data: Record<string, unknown> = {}) {
    super('probe_failed', message, { ...data, reason });
    this.reason = reason;
  }
}

/** An HTTP request over a unix socket failed to connect, timed out, or broke mid-way. */
export class UnixRequestError extends ReconcilerError {
  constructor(socketPath: string, path: string, message: string, options?: ErrorOptions) {
    super('unix_request_failed', `${path} via ${socketPath}: ${message}`, { socketPath, path }, options);
  }
}

/** A tree SHA that is not 40 (or 64) lowercase hex characters; refused before it touches a path. */
export class InvalidTreeShaError extends ReconcilerError {
  constructor(treeSha: string) {
    super('invalid_tree_sha', `Not a Git tree SHA: ${JSON.stringify(treeSha)}`, { treeSha });
  }
}
