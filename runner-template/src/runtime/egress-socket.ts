import { type IncomingMessage, request } from 'node:http';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** One hop of an outbound request: the URL (already allowlist-checked) and fetch's init. */
export type FetchHop = (url: URL, init: RequestInit) => Promise<Response>;

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Decoders for what fetch would decode itself; the proxy passes the encoding through. */
function decoded(res: IncomingMessage): { body: Readable; decodedAway: boolean } {
  const encoding = String(res.headers['content-encoding'] ?? '')
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
  return async (url, init) => {
    // Request normalises every body type fetch accepts (string, JSON, FormData, streams…) and the headers.
    const prepared = new Request(url, { ...init, redirect: 'manual' });
    const body = prepared.body === null ? null : Buffer.from(await prepared.arrayBuffer());
    const headers: Record<string, string> = {};
    prepared.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers['accept-encoding'] ??= 'gzip, deflate, br';
    if (body !== null) headers['content-length'] = String(body.length);
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    return new Promise<Response>((resolve, reject) => {
      const req = request({ socketPath, path: url.href, method: prepared.method, headers, signal }, (res) => {
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
        const { body: stream, decodedAway } = decoded(res);
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
