/**
 * The reconciler's targets and their names: one module, read by the reconciler, the gateway and the API.
 * A production target is named after its server; change N's preview is `<server>--pr-<N>` (the `--` never
 * occurs in a server name, so the two never collide).
 */

import { isServerName, PREVIEW_SEPARATOR } from '@bmms/runner-template';

/** What a target runs for: main's HEAD of its server, or the head of one open change. */
export type TargetKind = 'production' | 'preview';

/** One entry of the reconciler's desired state. */
export interface Target {
  /** The route (and URL segment) it serves at. */
  name: string;
  server: string;
  kind: TargetKind;
  /** The commit it should run. */
  ref: string;
  tree: string;
}

const PREVIEW = new RegExp(`^(.+)${PREVIEW_SEPARATOR}pr-([1-9][0-9]{0,8})$`);

/** The route (and URL segment) of change `number`'s preview: `/s/<server>--pr-<number>/mcp`. */
export function previewName(server: string, number: number): string {
  return `${server}${PREVIEW_SEPARATOR}pr-${number}`;
}

/** Splits a preview name into its (valid) server name and change number, or null for anything else. */
export function parsePreviewName(name: string): { server: string; number: number } | null {
  const m = PREVIEW.exec(name);
  return m?.[1] && m[2] && isServerName(m[1]) ? { server: m[1], number: Number(m[2]) } : null;
}

/** Whether a route name is a preview's (and not a server's production route). */
export function isPreviewTarget(name: string): boolean {
  return parsePreviewName(name) !== null;
}
