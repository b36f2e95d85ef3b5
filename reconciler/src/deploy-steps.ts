/** The steps of a deploy, in order; a crash at any of them must converge on restart. */
export const DEPLOY_STEPS = ['recorded', 'bundled', 'started', 'probed', 'routed', 'status', 'draining'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

/** The minimal structured logger the reconciler needs. */
export interface ReconcilerLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
