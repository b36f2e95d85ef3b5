import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

/** A DNS server on 127.0.0.1 answering TXT queries from a table (what a customer publishes at their provider). */
export interface DnsStandIn {
  port: number;
  /** `host:port`, for BMMS_DNS_SERVERS / `dnsServers`. */
  address: string;
  /** Publishes TXT values at `name` (an empty list: the name exists without TXT, NODATA). */
  setTxt(name: string, values: string[]): void;
  /** What is published at `name` (empty when nothing is). */
  txt(name: string): string[];
  /** Unpublishes `name` (NXDOMAIN). */
  remove(name: string): void;
  /** Answers SERVFAIL to everything while set. */
  failing: boolean;
  /** The names asked for, in order. */
  queries: string[];
  close(): Promise<void>;
}

/** A TXT value as its providers publish it: strings of at most 255 bytes (RFC 1035), read back joined. */
function chunks(value: string): Buffer[] {
  const bytes = Buffer.from(value);
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** Starts the stand-in on a free UDP port of 127.0.0.1: real DNS wire format, parsed and written by dns-packet. */
export async function startDnsServer(): Promise<DnsStandIn> {
  const records = new Map<string, string[]>();
  const socket = dgram.createSocket('udp4');
  const standIn: DnsStandIn = {
    port: 0,
    address: '',
    setTxt: (name, values) => void records.set(name.toLowerCase(), values),
    txt: (name) => [...(records.get(name.toLowerCase()) ?? [])],
    remove: (name) => void records.delete(name.toLowerCase()),
    failing: false,
    queries: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, peer) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = question.name.toLowerCase();
    standIn.queries.push(name);
    const values = records.get(name);
    // RCODE in the flags' low four bits: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN.
    const rcode = standIn.failing ? 2 : values === undefined ? 3 : 0;
    const answers =
      !standIn.failing && values && question.type === 'TXT'
        ? values.map((value) => ({ type: 'TXT' as const, name: question.name, ttl: 60, data: chunks(value) }))
        : [];
    const reply = dnsPacket.encode({
      id: query.id,
      type: 'response',
      flags:
        dnsPacket.AUTHORITATIVE_ANSWER |
        ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
        dnsPacket.RECURSION_AVAILABLE |
        rcode,
      questions: query.questions,
      answers,
    });
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  standIn.port = socket.address().port;
  standIn.address = `127.0.0.1:${standIn.port}`;
  return standIn;
}
