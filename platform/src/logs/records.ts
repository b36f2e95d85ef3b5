import type { DeployEvent, InstanceLine } from '@bmms/reconciler';
import type { CallRecord } from '../gateway/calls.ts';

/** What a log record is about: a gateway call, a line of the instance's output, a deploy event, the platform's note. */
export const LOG_KINDS = ['call', 'output', 'deploy', 'notice'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

/** Log levels, weakest first: a filter on a level keeps that level and the ones after it. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What a call record says of its call (never arguments, results, tokens or secrets). */
export interface CallFacts {
  method: string | null;
  tool: string | null;
  status: number;
  rpcErrorCode: number | null;
  failed: boolean;
  latencyMs: number;
  requestBytes: number;
  responseBytes: number;
  clientName: string | null;
  clientId: string;
  requestId: string;
  traceId: string | null;
}

/** A log record on the wire (GET /servers/{name}/logs and its event stream). */
export interface LogRecord {
  /** Monotonic, as a decimal string. */
  id: string;
  time: string;
  kind: LogKind;
  level: LogLevel;
  message: string;
  preview: number | null;
  revision: string | null;
  stream: 'stdout' | 'stderr' | null;
  call: CallFacts | null;
}

/** Whose log a pending entry goes to: known by id (a gateway call) or by name (output, deploy events). */
export type LogOwner = { serverId: string; orgId: string } | { serverName: string };

/** A record waiting in the writer's queue. */
export interface LogEntry {
  owner: LogOwner;
  time: Date;
  kind: LogKind;
  level: LogLevel;
  message: string;
  preview: number | null;
  revision: string | null;
  stream: 'stdout' | 'stderr' | null;
  tool: string | null;
  call: CallFacts | null;
}

/** The longest message kept (an output line is already cut by the instance log bounds). */
const MESSAGE_CHARS = 16 * 1024;

/** The one-line summary of a call: `tools/call add → 200 in 3 ms`. */
export function callMessage(
  call: Pick<CallRecord, 'method' | 'tool' | 'status' | 'rpcErrorCode' | 'failed' | 'latencyMs'>,
): string {
  const what = [call.method ?? 'request', call.tool].filter(Boolean).join(' ');
  const rpc = call.rpcErrorCode === undefined ? '' : ` (JSON-RPC error ${call.rpcErrorCode})`;
  const toolError = call.failed && call.status < 400 && call.rpcErrorCode === undefined ? ' (tool error)' : '';
  return `${what} → ${call.status}${rpc}${toolError} in ${Math.round(call.latencyMs)} ms`;
}

/** A call's level: error for a 5xx answer, warn for any other failure, else info. */
function callLevel(status: number, failed: boolean): LogLevel {
  return status >= 500 ? 'error' : failed ? 'warn' : 'info';
}

/** What a call record keeps of a call (latency to the microsecond). */
function callFacts(call: CallRecord): CallFacts {
  return {
    method: call.method ?? null,
    tool: call.tool ?? null,
    status: call.status,
    rpcErrorCode: call.rpcErrorCode ?? null,
    failed: call.failed,
    latencyMs: Math.round(call.latencyMs * 1000) / 1000,
    requestBytes: call.requestBytes,
    responseBytes: call.responseBytes,
    clientName: call.clientName ?? null,
    clientId: call.clientId,
    requestId: call.requestId,
    traceId: call.traceId ?? null,
  };
}

/** The log entry of a gateway call, as a record of its own (the gateway's calls go in batches: see StoredCall). */
export function callEntry(call: CallRecord): LogEntry {
  return {
    owner: { serverId: call.serverId, orgId: call.orgId },
    time: new Date(call.at),
    kind: 'call',
    level: callLevel(call.status, call.failed),
    message: callMessage(call),
    preview: call.preview ?? null,
    revision: call.revision ?? null,
    stream: null,
    tool: call.tool ?? null,
    call: callFacts(call),
  };
}

/**
 * A gateway call as a batch row of `server_logs` keeps it (its `calls` column: an array of these): the same facts as
 * a call record, positional, so that the call path builds one small array instead of two objects, a date and a
 * message, and the database stores one row per server and batch instead of one per call. Level and message are
 * derived when it is read.
 */
export type StoredCall = [
  at: number,
  method: string | null,
  tool: string | null,
  status: number,
  rpcErrorCode: number | null,
  failed: 0 | 1,
  latencyMs: number,
  requestBytes: number,
  responseBytes: number,
  clientName: string | null,
  clientId: string,
  requestId: string,
  traceId: string | null,
  preview: number | null,
  revision: string | null,
];

/** The stored form of a gateway call. */
export function storedCall(call: CallRecord): StoredCall {
  return [
    call.at,
    call.method ?? null,
    call.tool ?? null,
    call.status,
    call.rpcErrorCode ?? null,
    call.failed ? 1 : 0,
    Math.round(call.latencyMs * 1000) / 1000,
    call.requestBytes,
    call.responseBytes,
    call.clientName ?? null,
    call.clientId,
    call.requestId,
    call.traceId ?? null,
    call.preview ?? null,
    call.revision ?? null,
  ];
}

/** The level of a stored call. */
export function storedCallLevel(c: StoredCall): LogLevel {
  return callLevel(c[3], c[5] === 1);
}

/** The highest level of some stored calls: a batch row's `level`, so that a level filter can skip whole rows. */
export function highestLevel(calls: readonly StoredCall[]): LogLevel {
  let level: LogLevel = 'info';
  for (const c of calls) {
    const l = storedCallLevel(c);
    if (l === 'error') return l;
    if (l === 'warn') level = l;
  }
  return level;
}

/**
 * The longest time the calls of one batch row span (the writer starts a new row past it): a row's `time` is its
 * earliest call's, so a reader looking for calls since T reads the rows since T minus this.
 */
export const BATCH_SPAN_MS = 60_000;

/**
 * A record's id on the wire: its row's id times RECORDS_PER_ROW plus its place in the row (0 for a row that is one
 * record), so ids stay monotonic and unique when a row holds a batch of calls.
 */
export const RECORDS_PER_ROW = 1024;
const PER_ROW = BigInt(RECORDS_PER_ROW);

/** The id of the `index`th record of row `rowId`. */
export function recordId(rowId: bigint, index = 0): bigint {
  return rowId * PER_ROW + BigInt(index);
}

/** The row that holds record `id`. */
export function rowOf(id: bigint): bigint {
  return id / PER_ROW;
}

/** The record of the `index`th stored call of row `rowId`. */
export function storedCallRecord(rowId: bigint, index: number, c: StoredCall): LogRecord {
  const facts: CallFacts = {
    method: c[1],
    tool: c[2],
    status: c[3],
    rpcErrorCode: c[4],
    failed: c[5] === 1,
    latencyMs: c[6],
    requestBytes: c[7],
    responseBytes: c[8],
    clientName: c[9],
    clientId: c[10],
    requestId: c[11],
    traceId: c[12],
  };
  return {
    id: recordId(rowId, index).toString(),
    time: new Date(c[0]).toISOString(),
    kind: 'call',
    level: storedCallLevel(c),
    message: callMessage({
      method: facts.method ?? undefined,
      tool: facts.tool ?? undefined,
      status: facts.status,
      rpcErrorCode: facts.rpcErrorCode ?? undefined,
      failed: facts.failed,
      latencyMs: facts.latencyMs,
    }),
    preview: c[13],
    revision: c[14],
    stream: null,
    call: facts,
  };
}

/** The log entry of an instance's output line (or of a summary of dropped lines, or of a platform note). */
export function outputEntry(line: InstanceLine): LogEntry {
  const level: LogLevel =
    line.source === 'output'
      ? (jsonLevel(line.text) ?? (line.stream === 'stderr' ? 'error' : 'info'))
      : line.source === 'dropped'
        ? 'warn'
        : 'error';
  return {
    owner: { serverName: line.serverName },
    time: new Date(),
    kind: line.source === 'output' ? 'output' : 'notice',
    level,
    message: line.text.slice(0, MESSAGE_CHARS),
    preview: line.preview ?? null,
    revision: line.revision,
    stream: line.stream,
    tool: null,
    call: null,
  };
}

/** The log entry of a reconciler deploy event. */
export function deployEntry(event: DeployEvent): LogEntry {
  return {
    owner: { serverName: event.server },
    time: new Date(),
    kind: 'deploy',
    level: event.level,
    message: `${event.reason}: ${event.message}`.slice(0, MESSAGE_CHARS),
    preview: event.preview ?? null,
    revision: event.revision,
    stream: null,
    tool: null,
    call: null,
  };
}

/** Pino's numeric levels (10 trace … 60 fatal). */
const PINO: [number, LogLevel][] = [
  [50, 'error'],
  [40, 'warn'],
  [30, 'info'],
  [0, 'debug'],
];

const NAMED: Record<string, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'error',
  critical: 'error',
};

/** The level of a JSON log line (`level`: a name, or a pino number); undefined when the line is not one. */
export function jsonLevel(text: string): LogLevel | undefined {
  if (!text.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const level = (parsed as { level?: unknown }).level;
  if (typeof level === 'number') return PINO.find(([min]) => level >= min)?.[1];
  if (typeof level === 'string') return NAMED[level.toLowerCase()];
  return undefined;
}

/** The levels at or above `level`. */
export function levelsFrom(level: LogLevel): LogLevel[] {
  return LOG_LEVELS.slice(LOG_LEVELS.indexOf(level));
}

/** A stored row that is one record, as the API shows it. */
export function toRecord(row: {
  id: bigint;
  time: Date;
  kind: string;
  level: string;
  message: string;
  preview: number | null;
  revision: string | null;
  stream: string | null;
  call: unknown;
}): LogRecord {
  return {
    id: recordId(row.id).toString(),
    time: row.time.toISOString(),
    kind: row.kind as LogKind,
    level: row.level as LogLevel,
    message: row.message,
    preview: row.preview,
    revision: row.revision,
    stream: row.stream === 'stdout' || row.stream === 'stderr' ? row.stream : null,
    call: (row.call ?? null) as CallFacts | null,
  };
}
