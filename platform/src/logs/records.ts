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
export function callMessage(call: CallRecord): string {
  const what = [call.method ?? 'request', call.tool].filter(Boolean).join(' ');
  const rpc = call.rpcErrorCode === undefined ? '' : ` (JSON-RPC error ${call.rpcErrorCode})`;
  const toolError = call.failed && call.status < 400 && call.rpcErrorCode === undefined ? ' (tool error)' : '';
  return `${what} → ${call.status}${rpc}${toolError} in ${Math.round(call.latencyMs)} ms`;
}

/** The log entry of a gateway call. */
export function callEntry(call: CallRecord): LogEntry {
  const level: LogLevel = call.status >= 500 ? 'error' : call.failed ? 'warn' : 'info';
  return {
    owner: { serverId: call.serverId, orgId: call.orgId },
    time: new Date(call.at),
    kind: 'call',
    level,
    message: callMessage(call),
    preview: call.preview ?? null,
    revision: call.revision ?? null,
    stream: null,
    tool: call.tool ?? null,
    call: {
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
    },
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

/** A stored row as the API shows it. */
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
    id: row.id.toString(),
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
