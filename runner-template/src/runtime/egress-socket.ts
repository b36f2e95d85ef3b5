import { type IncomingHttpHeaders, request } from 'node:http';
import { type ClientHttp2Session, connect as connectHttp2, constants as http2 } from 'node:http2';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** One hop of an outbound request: the URL (already allowlist-checked) and fetch's init. */
export type FetchHop = (url: URL, init: RequestInit) => Promise<Response>;

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Decoders for what fetch would decode itself; the proxy passes the encoding through. */
function decoded(headers: IncomingHttpHeaders, res: Readable): { body: Readable; decodedAway: boolean } {
  const encoding = String(headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return { body: res.pipe(createGunzip()), decodedAway: true };
  if (encoding === 'deflate') return { body: res.pipe(createInflate()), decodedAway: true };
  if (encoding === 'br') return { body: res.pipe(createBrotliDecompress()), decodedAway: true };
  return { body: res, decodedAway: false };
}

/**
 * A fetch hop through the platform's egress proxy on a unix socket: the request goes out in absolute form
 * (`GET https://host/path`) and the proxy originates it (TLS included). Redirects are returned, not followed.
 */
export function createSocketFetch(socketPath: string): FetchHop {
  return createProxyFetch({ socketPath });
}

/**
 * The same hop to the proxy's listener on a network (BMMS_EGRESS_URL, an instance on another node than the
 * platform), telling it who we are with our token (BMMS_EGRESS_TOKEN).
 */
export function createNetworkFetch(proxyUrl: string, token: string): FetchHop {
  const url = new URL(proxyUrl);
  if (url.protocol !== 'http:') throw new Error(`BMMS_EGRESS_URL: not an http URL: ${proxyUrl}`);
  return createProxyFetch(
    { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) },
    { 'proxy-authorization': `Bearer ${token}` },
  );
}

function createProxyFetch(
  target: { socketPath: string } | { host: string; port: number },
  extraHeaders: Record<string, string> = {},
): FetchHop {
  return async (url, init) => {
    // Request normalises every body type fetch accepts (string, JSON, FormData, streams…) and the headers.
    const prepared = new Request(url, { ...init, redirect: 'manual' });
    const body = prepared.body === null ? null : Buffer.from(await prepared.arrayBuffer());
    const headers: Record<string, string> = {};
    prepared.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers['accept-encoding'] ??= 'gzip, deflate, br';
    Object.assign(headers, extraHeaders);
    if (body !== null) headers['content-length'] = String(body.length);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    return new Promise<Response>((resolve, reject) => {
      const req = request({ ...target, path: url.href, method: prepared.method, headers, signal }, (res) => {
        const status = res.statusCode ?? 502;
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
        }
        if (NULL_BODY.has(status) || prepared.method === 'HEAD') {
          res.resume();
          resolve(new Response(null, { status, statusText: res.statusMessage, headers: responseHeaders }));
          return;
        }
        const { body: stream, decodedAway } = decoded(res.headers, res);
        if (decodedAway) {
          responseHeaders.delete('content-encoding');
          responseHeaders.delete('content-length');
        }
        const web = Readable.toWeb(stream) as ReadableStream<Uint8Array>;
        resolve(new Response(web, { status, statusText: res.statusMessage, headers: responseHeaders }));
      });
      req.on('error', (error) =>
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error })),
      );
      req.end(body ?? undefined);
    });
  };
}

/** Request headers HTTP/2 forbids (connection-specific) or carries as pseudo-headers. */
const NOT_IN_HTTP2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/**
 * A fetch hop through the platform's egress proxy over an inherited socket pair (`BMMS_EGRESS_FD`), for an instance
 * that may open no connection itself (the `confined` runtime): one HTTP/2 session on the pair, one stream per hop,
 * the target in `:scheme`/`:authority`/`:path`. The platform relays each stream to the proxy, which originates it.
 */
export function createChannelFetch(fd: number): FetchHop {
  let session: ClientHttp2Session | undefined;
  const open = (): ClientHttp2Session => {
    if (session && !session.destroyed && !session.closed) return session;
    if (session) throw new TypeError('fetch failed', { cause: new Error('the egress channel is closed') });
    const socket = new Socket({ fd, readable: true, writable: true });
    session = connectHttp2('http://egress.invalid', { createConnection: () => socket });
    session.on('error', () => {}); // each stream reports its own failure
    session.unref();
    return session;
  };
  return async (url, init) => {
    const prepared = new Request(url, { ...init, redirect: 'manual' });
    const body = prepared.body === null ? null : Buffer.from(await prepared.arrayBuffer());
    const headers: Record<string, string> = {
      ':method': prepared.method,
      ':scheme': url.protocol.slice(0, -1),
      ':authority': url.host,
      ':path': `${url.pathname}${url.search}`,
    };
    prepared.headers.forEach((value, name) => {
      if (!NOT_IN_HTTP2.has(name) && !(name === 'te' && value !== 'trailers')) headers[name] = value;
    });
    headers['accept-encoding'] ??= 'gzip, deflate, br';
    if (body !== null) headers['content-length'] = String(body.length);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    return new Promise<Response>((resolve, reject) => {
      let stream: ReturnType<ClientHttp2Session['request']>;
      try {
        stream = open().request(headers, { endStream: body === null });
      } catch (error) {
        reject(error instanceof TypeError ? error : new TypeError('fetch failed', { cause: error }));
        return;
      }
      const abort = () => stream.close(http2.NGHTTP2_CANCEL);
      signal?.addEventListener('abort', abort, { once: true });
      stream.once('close', () => signal?.removeEventListener('abort', abort));
      stream.once('response', (raw) => {
        const status = Number(raw[':status'] ?? 502);
        const responseHeaders = new Headers();
        const plain: IncomingHttpHeaders = {};
        for (const [name, value] of Object.entries(raw)) {
          if (value === undefined || name.startsWith(':')) continue;
          plain[name] = value as string | string[];
          for (const v of Array.isArray(value) ? value : [String(value)]) responseHeaders.append(name, v);
        }
        if (NULL_BODY.has(status) || prepared.method === 'HEAD') {
          stream.resume();
          resolve(new Response(null, { status, headers: responseHeaders }));
          return;
        }
        const { body: decodedBody, decodedAway } = decoded(plain, stream);
        if (decodedAway) {
          responseHeaders.delete('content-encoding');
          responseHeaders.delete('content-length');
        }
        const web = Readable.toWeb(decodedBody) as ReadableStream<Uint8Array>;
        resolve(new Response(web, { status, headers: responseHeaders }));
      });
      stream.once('error', (error) =>
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error })),
      );
      if (body !== null) stream.end(body);
    });
  };
}
