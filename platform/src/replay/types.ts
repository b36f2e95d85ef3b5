/** One upstream HTTP exchange the egress proxy saw during a recorded call (sanitized). */
export interface RecordedExchange {
  method: string;
  /** The absolute URL, credential-named query parameters replaced. */
  url: string;
  status: number;
  /** Content type and the like; never a header that carries a credential. */
  headers: Record<string, string>;
  /** The answer's body as text, sanitized. */
  body: string;
}

/** One recorded production call, as the `replay` check reads it back (sanitized before it was sealed). */
export interface Recording {
  id: string;
  /** The revision (commit) that answered in production. */
  revision: string;
  recordedAt: Date;
  tool: string;
  arguments: Record<string, unknown>;
  /** The JSON-RPC `result` or `error` the client got. */
  answer: { result?: unknown; error?: unknown };
  exchanges: RecordedExchange[];
}

/** The owner's consent to recording, per server. */
export interface ReplaySettingsView {
  enabled: boolean;
  /** Share of tools/call requests recorded (0 to 1). */
  sampleRate: number;
  /** Recordings kept at most; once full, nothing more is recorded until retention frees room. */
  maxRecordings: number;
  /** Days a recording is kept. */
  retentionDays: number;
}

/** What a server has before its owner consented: recording off. */
export const NO_CONSENT: ReplaySettingsView = {
  enabled: false,
  sampleRate: 0.1,
  maxRecordings: 100,
  retentionDays: 14,
};
