/** Why the egress proxy refused a request; rendered as `{"error":{"code","message"}}` with `status`. */
export class EgressRefusedError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = 'EgressRefusedError';
    this.code = code;
    this.status = status;
  }
}

export const addressRefused = (host: string) =>
  new EgressRefusedError(
    'egress_address_refused',
    403,
    `"${host}" resolves to a private, loopback, link-local or otherwise reserved address; the proxy does not connect there.`,
  );
export const badProxyRequest = (why: string) => new EgressRefusedError('egress_bad_request', 400, why);
export const resolveFailed = (host: string) =>
  new EgressRefusedError('egress_resolve_failed', 502, `"${host}" could not be resolved.`);
export const upstreamFailed = (host: string) =>
  new EgressRefusedError('egress_upstream_failed', 502, `The request to "${host}" failed before an answer came back.`);
export const unrecorded = (method: string, host: string) =>
  new EgressRefusedError(
    'egress_replay_unrecorded',
    502,
    `This preview replays recorded traffic: no recorded answer of "${host}" matches this ${method} request.`,
  );
