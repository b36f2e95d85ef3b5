import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@bmms/prisma';
import type { Logger } from '../logger.ts';
import type { SecretStore } from '../secrets/store.ts';
import { sanitizeBody, sanitizeHeaders, sanitizeUrl, sanitizeValue } from './sanitize.ts';
import { NO_CONSENT, type RecordedExchange, type Recording, type ReplaySettingsView } from './types.ts';

/** The largest tool call (arguments) or answer recorded; a larger one is not recorded at all. */
export const MAX_CALL_BYTES = 64 * 1024;
/** The largest upstream body kept per exchange; a call with a larger one is not recorded. */
export const MAX_UPSTREAM_BYTES = 64 * 1024;
/** Upstream exchanges kept per call at most. */
const MAX_EXCHANGES = 20;
/** Calls waiting to be written at most (more are dropped: recording never holds memory for a flood). */
const MAX_PENDING = 200;
/** How long a server's consent is believed before it is read again (other processes may have changed it). */
const CONSENT_TTL_MS = 10_000;
/** Upstream exchanges remembered per server while they wait for the call they belong to. */
const EXCHANGE_RING = 200;

/** An upstream exchange as the egress proxy saw it, not yet sanitized. */
export interface RawExchange {
  at: number;
  method: string;
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body was longer than MAX_UPSTREAM_BYTES (and is cut). */
  truncated: boolean;
}

/** A tools/call the gateway forwards to production: it collects the answer's bytes, then hands the call over. */
export interface CallCapture {
  observe(chunk: Buffer): void;
  /** The answer ended (with its content type); the call is queued for writing, off the request path. */
  finish(contentType: string | undefined, status: number): void;
}

interface Pending {
  server: { id: string; name: string };
  revision: string;
  tool: string;
  arguments: Record<string, unknown>;
  id: unknown;
  answer: Buffer;
  contentType: string | undefined;
  exchanges: RawExchange[];
  overflow: boolean;
}

export interface ReplayRecorderDeps {
  db: PrismaClient;
  /** Seals recordings like secrets (AES-256-GCM under the master key), and gives the values never to record. */
  secrets: Pick<SecretStore, 'seal' | 'open' | 'values'>;
  log: Logger;
  /** How often queued calls are written (default 2 s). */
  flushMs?: number;
  /** Chance source (tests make sampling certain with a rate of 1). */
  random?: () => number;
}

/**
 * Records a sample of production tool calls of the servers whose owner consented, for the `replay` check: the
 * gateway hands each sampled call to `begin` (a memory check, no database), the egress proxy reports the upstream
 * exchanges of those servers, and every flush interval the queued calls are sanitized, sealed and written.
 */
export class ReplayRecorder {
  readonly #deps: ReplayRecorderDeps;
  readonly #consent = new Map<string, { settings: ReplaySettingsView; at: number }>();
  readonly #loading = new Set<string>();
  readonly #consentingNames = new Set<string>();
  readonly #exchanges = new Map<string, RawExchange[]>();
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #lastSweep = 0;

  constructor(deps: ReplayRecorderDeps) {
    this.#deps = deps;
  }

  /** Starts the periodic flush (and the retention sweep with it). */
  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#deps.flushMs ?? 2000);
    this.#timer.unref();
  }

  /** Writes what is queued and stops. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** The consent of a server (no consent: recording off). */
  async settings(serverId: string): Promise<ReplaySettingsView> {
    const row = await this.#deps.db.replaySettings.findUnique({ where: { serverId } });
    const settings = row
      ? {
          enabled: row.enabled,
          sampleRate: row.sampleRate,
          maxRecordings: row.maxRecordings,
          retentionDays: row.retentionDays,
        }
      : NO_CONSENT;
    this.#consent.set(serverId, { settings, at: Date.now() });
    return settings;
  }

  /** Stores a server's consent; turning recording off keeps the recordings (delete them with `deleteAll`). */
  async setSettings(server: { id: string; name: string }, settings: ReplaySettingsView): Promise<void> {
    const data = { ...settings, updatedAt: new Date() };
    await this.#deps.db.replaySettings.upsert({
      where: { serverId: server.id },
      create: { serverId: server.id, ...data },
      update: data,
    });
    this.#consent.set(server.id, { settings, at: Date.now() });
    if (settings.enabled) this.#consentingNames.add(server.name);
    else this.#consentingNames.delete(server.name);
  }

  /**
   * A capture for a production tools/call when its server consented and the call is sampled; undefined
   * otherwise. Reads only memory: a consent not known yet (or stale) is read in the background.
   */
  begin(server: { id: string; name: string }, revision: string, messages: unknown): CallCapture | undefined {
    const known = this.#consent.get(server.id);
    if (!known || Date.now() - known.at > CONSENT_TTL_MS) this.#refresh(server);
    const settings = known?.settings;
    if (!settings?.enabled || this.#pending.length >= MAX_PENDING) return undefined;
    const call = toolCallOf(messages);
    if (!call || (this.#deps.random ?? Math.random)() >= settings.sampleRate) return undefined;
    const started = Date.now();
    const chunks: Buffer[] = [];
    let bytes = 0;
    return {
      observe: (chunk) => {
        bytes += chunk.length;
        if (bytes <= MAX_CALL_BYTES) chunks.push(chunk);
      },
      finish: (contentType, status) => {
        if (bytes > MAX_CALL_BYTES || status !== 200) return;
        const exchanges = this.#exchangesBetween(server.name, started, Date.now());
        this.#pending.push({
          server,
          revision,
          ...call,
          answer: Buffer.concat(chunks),
          contentType,
          exchanges: exchanges.slice(0, MAX_EXCHANGES),
          overflow: exchanges.length > MAX_EXCHANGES || exchanges.some((e) => e.truncated),
        });
      },
    };
  }

  /** Whether the egress proxy should tap `serverName`'s upstream answers (its owner consented to recording). */
  wantsEgress(serverName: string): boolean {
    return this.#consentingNames.has(serverName);
  }

  /** An upstream exchange of a consenting server, kept briefly until the call it happened in ends. */
  egress(serverName: string, exchange: RawExchange): void {
    let ring = this.#exchanges.get(serverName);
    if (!ring) {
      ring = [];
      this.#exchanges.set(serverName, ring);
    }
    ring.push(exchange);
    if (ring.length > EXCHANGE_RING) ring.splice(0, ring.length - EXCHANGE_RING);
  }

  /** Writes the queued calls (sanitized and sealed), and sweeps recordings past their retention now and then. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing
      .then(() => this.#write())
      .catch((err) => this.#deps.log.error('replay flush failed', { err }));
    return this.#flushing;
  }

  /** The recordings of a server, oldest first, opened (one that cannot be opened any more is left out). */
  async recordings(serverId: string): Promise<Recording[]> {
    const rows = await this.#deps.db.replayRecording.findMany({
      where: { serverId, expiresAt: { gt: new Date() } },
      orderBy: { recordedAt: 'asc' },
    });
    const out: Recording[] = [];
    for (const row of rows) {
      try {
        const body = JSON.parse(this.#deps.secrets.open(serverId, `replay:${row.id}`, row)) as Omit<
          Recording,
          'id' | 'revision' | 'recordedAt'
        >;
        out.push({ id: row.id, revision: row.revision, recordedAt: row.recordedAt, ...body });
      } catch (err) {
        this.#deps.log.warn('replay recording unreadable', { server: serverId, recording: row.id, err });
      }
    }
    return out;
  }

  /** What the `replay` check replays: a server's consent, its recordings and the values to keep out of answers. */
  async sample(
    serverName: string,
  ): Promise<{ settings: ReplaySettingsView; recordings: Recording[]; secrets: string[] } | string> {
    const server = await this.#deps.db.server.findUnique({ where: { name: serverName } });
    if (!server) return 'the server was deleted';
    const [settings, recordings, secrets] = await Promise.all([
      this.settings(server.id),
      this.recordings(server.id),
      this.#deps.secrets.values(server.id),
    ]);
    return { settings, recordings, secrets: Object.values(secrets) };
  }

  /** How many recordings a server has. */
  count(serverId: string): Promise<number> {
    return this.#deps.db.replayRecording.count({ where: { serverId } });
  }

  /** Deletes every recording of a server (and whatever of it waits to be written); returns how many were stored. */
  async deleteAll(serverId: string): Promise<number> {
    await this.#flushing;
    this.#pending = this.#pending.filter((p) => p.server.id !== serverId);
    const { count } = await this.#deps.db.replayRecording.deleteMany({ where: { serverId } });
    return count;
  }

  /** Re-encrypts recordings sealed under another key than `current` (master key rotation); returns how many. */
  async reseal(current: string): Promise<number> {
    const { db, secrets } = this.#deps;
    const stale = await db.replayRecording.findMany({ where: { keyVersion: { not: current } } });
    let resealed = 0;
    for (const row of stale) {
      const name = `replay:${row.id}`;
      const sealed = secrets.seal(row.serverId, name, secrets.open(row.serverId, name, row));
      resealed += (
        await db.replayRecording.updateMany({ where: { id: row.id, keyVersion: row.keyVersion }, data: sealed })
      ).count;
    }
    return resealed;
  }

  /** Deletes recordings past their retention; returns how many. */
  async sweep(now = new Date()): Promise<number> {
    this.#lastSweep = now.getTime();
    const { count } = await this.#deps.db.replayRecording.deleteMany({ where: { expiresAt: { lte: now } } });
    return count;
  }

  #refresh(server: { id: string; name: string }): void {
    if (this.#loading.has(server.id)) return;
    this.#loading.add(server.id);
    void this.settings(server.id)
      .then((s) => {
        if (s.enabled) this.#consentingNames.add(server.name);
        else this.#consentingNames.delete(server.name);
      })
      .catch((err) => this.#deps.log.warn('replay consent unreadable', { server: server.name, err }))
      .finally(() => this.#loading.delete(server.id));
  }

  #exchangesBetween(serverName: string, from: number, to: number): RawExchange[] {
    return (this.#exchanges.get(serverName) ?? []).filter((e) => e.at >= from && e.at <= to);
  }

  async #write(): Promise<void> {
    if (Date.now() - this.#lastSweep > 10 * 60_000) await this.sweep();
    const batch = this.#pending;
    this.#pending = [];
    const byServer = Map.groupBy(batch, (p) => p.server.id);
    for (const [serverId, calls] of byServer) await this.#writeServer(serverId, calls);
  }

  async #writeServer(serverId: string, calls: Pending[]): Promise<void> {
    const { db } = this.#deps;
    const settings = await this.settings(serverId);
    if (!settings.enabled) return;
    const room = settings.maxRecordings - (await this.count(serverId));
    const secrets = Object.values(await this.#deps.secrets.values(serverId));
    const rows = [];
    for (const call of calls.slice(0, Math.max(0, room))) {
      const recording = recordingOf(call, secrets);
      if (!recording) continue;
      const id = randomUUID();
      const sealed = this.#deps.secrets.seal(serverId, `replay:${id}`, JSON.stringify(recording));
      const now = new Date();
      const expiresAt = new Date(now.getTime() + settings.retentionDays * 86_400_000);
      rows.push({ id, serverId, revision: call.revision, ...sealed, recordedAt: now, expiresAt });
    }
    if (rows.length > 0) await db.replayRecording.createMany({ data: rows });
  }
}

/** The tool name, arguments and id of a single tools/call request; undefined for anything else (a batch…). */
function toolCallOf(messages: unknown): { tool: string; arguments: Record<string, unknown>; id: unknown } | undefined {
  if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) return undefined;
  const m = messages as { method?: unknown; id?: unknown; params?: { name?: unknown; arguments?: unknown } };
  if (m.method !== 'tools/call' || m.id === undefined || typeof m.params?.name !== 'string') return undefined;
  const args = m.params.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return undefined;
  if (JSON.stringify(args).length > MAX_CALL_BYTES) return undefined;
  return { tool: m.params.name, arguments: args as Record<string, unknown>, id: m.id };
}

/** The JSON-RPC answer to request `id` in a body (JSON, or an SSE stream of JSON messages). */
export function answerOf(
  body: string,
  contentType: string | undefined,
  id: unknown,
): { result?: unknown; error?: unknown } | undefined {
  const texts = contentType?.includes('text/event-stream')
    ? [...body.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1] ?? '')
    : [body];
  for (const text of texts) {
    try {
      const message = JSON.parse(text) as { id?: unknown; result?: unknown; error?: unknown };
      if (message.id === id && ('result' in message || 'error' in message)) {
        return 'error' in message ? { error: message.error } : { result: message.result };
      }
    } catch {
      // not a JSON message: keep looking
    }
  }
  return undefined;
}

/** A queued call as it is sealed: sanitized, or undefined when it cannot be kept whole. */
function recordingOf(call: Pending, secrets: string[]): Omit<Recording, 'id' | 'revision' | 'recordedAt'> | undefined {
  if (call.overflow) return undefined;
  const answer = answerOf(call.answer.toString('utf8'), call.contentType, call.id);
  if (!answer) return undefined;
  const exchanges: RecordedExchange[] = call.exchanges.map((e) => ({
    method: e.method,
    url: sanitizeUrl(e.url, secrets),
    status: e.status,
    headers: sanitizeHeaders(e.headers, secrets),
    body: sanitizeBody(e.body.toString('utf8'), secrets),
  }));
  return {
    tool: call.tool,
    arguments: sanitizeValue(call.arguments, secrets) as Record<string, unknown>,
    answer: sanitizeValue(answer, secrets) as Recording['answer'],
    exchanges,
  };
}
