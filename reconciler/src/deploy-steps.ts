/** The steps of a deploy, in order; a crash at any of them must converge on restart. */
export const DEPLOY_STEPS = ['recorded', 'bundled', 'started', 'probed', 'routed', 'status', 'draining'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

/** The minimal structured logger the reconciler needs. */
export interface ReconcilerLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Something that happened to a server's deploys, as its log tells it. */
export interface DeployEvent {
  /** The server's name (never a preview route). */
  server: string;
  /** A preview's change number, for a preview's events. */
  preview?: number;
  revision: string | null;
  level: 'info' | 'warn' | 'error';
  /** The reason, as in the deployment history and the conditions (`Deploying`, `Serving`, `ProbeFailed`…). */
  reason: string;
  message: string;
}
