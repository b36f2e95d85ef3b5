import type { EgressRefusal } from '@bmms/runner-template';

/**
 * Every answer of the egress proxy that is not the upstream's own, in one table: its wire code, its HTTP status
 * and its message. An instance's `ctx.fetch` receives these as responses with a body `{"error":{"code","message"}}`;
 * the egress table of the server-repo docs (site/src/content/docs/server-repo.md) lists every code, and
 * errors.test.ts holds the two together. The three policy codes are the shared egress policy's
 * (`egressRefusal` of @bmms/runner-template), whose messages come with the refusal.
 */
export const EGRESS_ERRORS = {
  egress_bad_request: { status: 400, render: (why: string) => why },
  egress_host_not_allowed: { status: 403, render: (refusal: EgressRefusal) => refusal.message },
  egress_port_not_allowed: { status: 403, render: (refusal: EgressRefusal) => refusal.message },
  egress_scheme_not_allowed: { status: 403, render: (refusal: EgressRefusal) => refusal.message },
  egress_address_refused: {
    status: 403,
    render: (host: string) =>
      `"${host}" resolves to a private, loopback, link-local or otherwise reserved address; the proxy does not connect there.`,
  },
  egress_resolve_failed: { status: 502, render: (host: string) => `"${host}" could not be resolved.` },
  egress_upstream_failed: {
    status: 502,
    render: (host: string) => `The request to "${host}" failed before an answer came back.`,
  },
  egress_unauthorized: {
    status: 407,
    render: () =>
      'The request carries no egress token the proxy knows (BMMS_EGRESS_TOKEN, on a swarm overlay network); it did not go out.',
  },
  egress_replay_unrecorded: {
    status: 502,
    render: (method: string, host: string) =>
      `This preview replays recorded traffic: no recorded answer of "${host}" matches this ${method} request.`,
  },
} as const satisfies Record<string, { status: number; render: (...args: never) => string }>;

export type EgressErrorCode = keyof typeof EGRESS_ERRORS;

/** Why the egress proxy refused a request; rendered as `{"error":{"code","message"}}` with `status`. */
export class EgressRefusedError extends Error {
  readonly code: EgressErrorCode;
  readonly status: number;
  constructor(code: EgressErrorCode, message: string) {
    super(message);
    this.name = 'EgressRefusedError';
    this.code = code;
    this.status = EGRESS_ERRORS[code].status;
  }
}

export const addressRefused = (host: string) =>
  new EgressRefusedError('egress_address_refused', EGRESS_ERRORS.egress_address_refused.render(host));
export const badProxyRequest = (why: string) =>
  new EgressRefusedError('egress_bad_request', EGRESS_ERRORS.egress_bad_request.render(why));
export const resolveFailed = (host: string) =>
  new EgressRefusedError('egress_resolve_failed', EGRESS_ERRORS.egress_resolve_failed.render(host));
export const upstreamFailed = (host: string) =>
  new EgressRefusedError('egress_upstream_failed', EGRESS_ERRORS.egress_upstream_failed.render(host));
export const unrecorded = (method: string, host: string) =>
  new EgressRefusedError('egress_replay_unrecorded', EGRESS_ERRORS.egress_replay_unrecorded.render(method, host));
/** A request the shared egress policy refuses (scheme, host or port), as the proxy's 403. */
export const policyRefused = (refusal: EgressRefusal) =>
  new EgressRefusedError(refusal.code, EGRESS_ERRORS[refusal.code].render(refusal));
/** A request to the proxy's network listener without a token it knows: it never goes out. */
export const unauthorized = () =>
  new EgressRefusedError('egress_unauthorized', EGRESS_ERRORS.egress_unauthorized.render());
