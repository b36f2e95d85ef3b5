// Byte forwarders between network namespaces, through unix sockets on the shared file system: started inside a
// namespace (`nsenter --net=…`), it listens there and connects to a unix socket anyone can reach, or the other way.
// Usage: node forward.ts '<json rules>', each rule {listen: {port} | {path}, connect: {port, host?} | {path}}.
// Prints "ready" once every listener listens.
import { rmSync } from 'node:fs';
import net from 'node:net';

type End = { port: number; host?: string } | { path: string };
const rules = JSON.parse(process.argv[2] ?? '[]') as { listen: End; connect: End }[];

let listening = 0;
for (const { listen, connect } of rules) {
  const server = net.createServer((inbound) => {
    const outbound =
      'path' in connect ? net.connect(connect.path) : net.connect(connect.port, connect.host ?? '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  const ready = () => {
    if (++listening === rules.length) process.stdout.write('ready\n');
  };
  if ('path' in listen) {
    rmSync(listen.path, { force: true });
    server.listen(listen.path, ready);
  } else server.listen(listen.port, listen.host ?? '127.0.0.1', ready);
}
process.on('SIGTERM', () => process.exit(0));
