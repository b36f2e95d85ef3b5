/**
 * A load generator in its own process (so it never shares an event loop with what it measures): `connections`
 * keep-alive connections, each sending the same POST back to back for `seconds`. Prints one JSON line:
 * {requests, errors, statuses, p50Ms, p95Ms, p99Ms, rps}.
 *
 *   node bench/load.ts '{"url":"http://127.0.0.1:8080/s/x/mcp","headers":{},"body":"…","connections":16,"seconds":10}'
 */
import http from 'node:http';

interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const target = new URL(spec.url);
const body = Buffer.from(spec.body);
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const headers = { ...spec.headers, 'content-length': String(body.length) };

function once(): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
        res.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
      },
    );
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

const latencies: number[] = [];
const statuses: Record<string, number> = {};
const deadline = performance.now() + spec.seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: spec.connections }, async () => {
    while (performance.now() < deadline) {
      const { status, ms } = await once();
      statuses[status] = (statuses[status] ?? 0) + 1;
      latencies.push(ms);
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)] ?? 0;
const ok = statuses['200'] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    errors: latencies.length - ok,
    statuses,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
    rps: ok / elapsed,
  })}\n`,
);
agent.destroy();
