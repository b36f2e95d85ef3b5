import { request } from 'node:http';
import { connectOptions } from './endpoint.ts';
import { ProbeError, UnixRequestError } from './errors.ts';

export type UnixResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer };

/** The most of one answer the platform reads from an instance; a larger answer is cut off and refused. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * One HTTP request over a unix socket (no keep-alive), rejecting with UnixRequestError on failure, past
 * `timeoutMs` for the whole exchange (a server dripping bytes does not keep it open), or past `maxBytes` of answer
 * (an instance streaming without end is cut off, never buffered whole): the platform reads instances it does not
 * trust.
 */
export function unixRequest(
  socketPath: string,
  req: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
    maxBytes?: number;
  },
): Promise<UnixResponse> {
  const timeoutMs = req.timeoutMs ?? 5000;
  const maxBytes = req.maxBytes ?? MAX_ANSWER_BYTES;
  return new Promise((resolve, reject) => {
    let why: Error | undefined;
    const fail = (err: Error) =>
      reject(new UnixRequestError(socketPath, req.path, (why ?? err).message, { cause: err }));
    const r = request(
      { ...connectOptions(socketPath), method: req.method, path: req.path, headers: req.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            why ??= new Error(`the answer is larger than ${maxBytes} bytes`);
            r.destroy(why);
            return;
          }
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(why ?? new Error('the answer was cut off'));
        });
      },
    );
    const deadline = setTimeout(() => {
      why ??= new Error(`no answer within ${timeoutMs} ms`);
      r.destroy(why);
    }, timeoutMs);
    r.on('close', () => clearTimeout(deadline));
    r.on('error', fail);
    r.end(req.body);
  });
}

type JsonRpcResponse = {
  jsonrpc: '2.0';
  id?: number | string;
  result?: Record<string, unknown>;
  error?: { message?: string };
};

/** Read a JSON-RPC answer from a JSON body or from the first `data:` event of an SSE body. */
function parseRpc(res: UnixResponse): JsonRpcResponse {
  const text = res.body.toString('utf8');
  const type = String(res.headers['content-type'] ?? '');
  if (type.includes('text/event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim());
    for (const d of data) {
      const msg = JSON.parse(d) as JsonRpcResponse;
      if (msg.id !== undefined) return msg;
    }
    throw new Error('event stream carried no response');
  }
  return JSON.parse(text) as JsonRpcResponse;
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** Send one JSON-RPC message to POST /mcp. */
async function rpc(
  socketPath: string,
  message: Record<string, unknown>,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<UnixResponse> {
  return unixRequest(socketPath, {
    method: 'POST',
    path: '/mcp',
    headers: { ...MCP_HEADERS, ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', ...message }),
    timeoutMs,
  });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Probe a running instance: /healthz 200, MCP initialize, and tools/list names equal to the manifest's. */
export async function probeInstance(
  socketPath: string,
  manifest: { tools: { name: string }[] },
  opts: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<{ protocolVersion: string; tools: string[] }> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  // Credentials the instance requires on /mcp (the gateway's internal credential), if any.
  const auth = opts.headers ?? {};

  // Stateless servers answer each request on its own: send the three probes at once, judge in order.
  const healthP = unixRequest(socketPath, { method: 'GET', path: '/healthz', timeoutMs });
  const initP = rpc(
    socketPath,
    {
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: PROBE_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'bmms-probe', version: '0.1.0' },
      },
    },
    auth,
    timeoutMs,
  );
  const firstPageP = listTools(socketPath, 2, undefined, PROBE_PROTOCOL_VERSION, timeoutMs, auth);
  for (const p of [healthP, initP, firstPageP]) p.catch(() => {});

  const health = await healthP.catch((err: unknown) => {
    throw new ProbeError('HealthFailed', `GET /healthz failed: ${describe(err)}`);
  });
  if (health.status !== 200) {
    throw new ProbeError('HealthFailed', `GET /healthz answered ${health.status}, expected 200`, {
      status: health.status,
    });
  }

  let protocolVersion: string;
  try {
    const res = await initP;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
    const msg = parseRpc(res);
    const version = msg.result?.protocolVersion;
    if (typeof version !== 'string') throw new Error(msg.error?.message ?? 'no protocolVersion in the result');
    protocolVersion = version;
    const ack = await rpc(
      socketPath,
      { method: 'notifications/initialized' },
      { ...auth, 'mcp-protocol-version': version },
      timeoutMs,
    );
    if (ack.status >= 300) throw new Error(`notifications/initialized answered HTTP ${ack.status}`);
  } catch (err) {
    if (err instanceof ProbeError) throw err;
    throw new ProbeError('InitializeFailed', `MCP initialize failed: ${describe(err)}`);
  }

  const names: string[] = [];
  try {
    let page = await firstPageP;
    for (let n = 3; n < 100; n++) {
      names.push(...page.names);
      if (!page.cursor) break;
      page = await listTools(socketPath, n, page.cursor, protocolVersion, timeoutMs, auth);
    }
  } catch (err) {
    throw new ProbeError('ToolsMismatch', `tools/list failed: ${describe(err)}`);
  }

  const expected = new Set(manifest.tools.map((t) => t.name));
  const actual = new Set(names);
  const missing = [...expected].filter((n) => !actual.has(n)).sort();
  const extra = [...actual].filter((n) => !expected.has(n)).sort();
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing from the server: ${missing.join(', ')}` : '',
      extra.length > 0 ? `not in mcp.json: ${extra.join(', ')}` : '',
    ].filter(Boolean);
    throw new ProbeError('ToolsMismatch', `Tools differ from the manifest (${parts.join('; ')})`, { missing, extra });
  }
  return { protocolVersion, tools: names.sort() };
}

const PROBE_PROTOCOL_VERSION = '2025-06-18';

/** One page of tools/list. */
async function listTools(
  socketPath: string,
  id: number,
  cursor: string | undefined,
  protocolVersion: string,
  timeoutMs: number,
  auth: Record<string, string>,
): Promise<{ names: string[]; cursor: string | undefined }> {
  const res = await rpc(
    socketPath,
    { id, method: 'tools/list', params: cursor ? { cursor } : {} },
    { ...auth, 'mcp-protocol-version': protocolVersion },
    timeoutMs,
  );
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  const msg = parseRpc(res);
  const tools = msg.result?.tools;
  if (!Array.isArray(tools)) throw new Error(msg.error?.message ?? 'no tools in the result');
  const next = msg.result?.nextCursor;
  return {
    names: (tools as { name: string }[]).map((t) => t.name),
    cursor: typeof next === 'string' ? next : undefined,
  };
}
