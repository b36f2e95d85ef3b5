import { Worker } from 'node:worker_threads';
import {
  openapiBusy,
  openapiTimeout,
  openapiTooLarge,
  revivedError,
  type SentApiError,
  shuttingDown,
} from '../../errors.ts';
import type { Plan } from '../../plans.ts';
import type { DescribedDocument, DescribeSource, DocumentJob, ImportSource, PlannedImport } from './job.ts';

/** What the import worker answers: the job's result, the ApiError it threw, or an unexpected failure. */
export type WorkerAnswer =
  | { ok: true; value: DescribedDocument | PlannedImport }
  | { ok: false; error: SentApiError }
  | { ok: false; unexpected: string };

/** The limits of reading documents off the main thread. */
export interface DocumentReaderOptions {
  /** Longest a job may take, reading, validating and converting included (ms). */
  timeoutMs: number;
  /** The worker's heap limit (V8 old generation, MB). */
  memoryMb: number;
  /** Jobs run at once, each in its own worker (default 2). */
  concurrency?: number;
  /** Jobs that may wait for a worker; one more is `503 openapi_busy` (default 8). */
  maxWaiting?: number;
}

const WORKER = new URL('./worker.ts', import.meta.url);
/** The worker thread's nice value (Linux): the main thread gets most of a busy CPU. */
export const WORKER_NICE = 10;

/**
 * Reads, validates, dereferences and converts OpenAPI documents in worker threads, one worker per job, each with a
 * time and a heap limit, so a 30 MB document never holds up the main thread (API calls, MCP traffic). A worker
 * past its limit is ended and the job answers `openapi_timeout` or `openapi_too_large`.
 */
export class DocumentReader {
  readonly #options: Required<DocumentReaderOptions>;
  #running = 0;
  readonly #waiting: { start: () => void; fail: (err: Error) => void }[] = [];
  readonly #workers = new Set<Worker>();
  #closed = false;

  constructor(options: DocumentReaderOptions) {
    this.#options = { concurrency: 2, maxWaiting: 8, ...options };
  }

  /** The operations of a document (the selection step), read off the main thread. */
  describe(source: DescribeSource, allowedHosts: readonly string[]): Promise<DescribedDocument> {
    return this.#run({ kind: 'describe', source, allowedHosts: [...allowedHosts] }) as Promise<DescribedDocument>;
  }

  /** An import worked out off the main thread: the request checked, the document read and converted, the repo rendered. */
  planImport(source: ImportSource, allowedHosts: readonly string[], plan: Plan): Promise<PlannedImport> {
    return this.#run({ kind: 'import', source, allowedHosts: [...allowedHosts], plan }) as Promise<PlannedImport>;
  }

  /** Ends every worker and refuses what waits; later jobs are refused too (the platform is shutting down). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.fail(shuttingDown(5));
    await Promise.all([...this.#workers].map((w) => w.terminate()));
  }

  async #run(job: DocumentJob): Promise<DescribedDocument | PlannedImport> {
    await this.#slot();
    try {
      return await this.#inWorker(job);
    } finally {
      this.#running--;
      this.#waiting.shift()?.start();
    }
  }

  /** Waits for a free worker slot (taken when this resolves). */
  #slot(): Promise<void> {
    if (this.#closed) return Promise.reject(shuttingDown(5));
    if (this.#running < this.#options.concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    if (this.#waiting.length >= this.#options.maxWaiting) {
      return Promise.reject(openapiBusy(this.#running, Math.max(1, Math.ceil(this.#options.timeoutMs / 10_000))));
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({
        start: () => {
          this.#running++;
          resolve();
        },
        fail: reject,
      });
    });
  }

  #inWorker(job: DocumentJob): Promise<DescribedDocument | PlannedImport> {
    const { timeoutMs, memoryMb } = this.#options;
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: memoryMb } });
      this.#workers.add(worker);
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#workers.delete(worker);
        void worker.terminate();
        fn();
      };
      const timer = setTimeout(() => settle(() => reject(openapiTimeout(Math.round(timeoutMs / 1000)))), timeoutMs);
      worker.once('message', (answer: WorkerAnswer) =>
        settle(() => {
          if (answer.ok) resolve(answer.value);
          else if ('error' in answer) reject(revivedError(answer.error));
          else reject(new Error(`the OpenAPI import worker failed: ${answer.unexpected}`));
        }),
      );
      worker.once('error', (err: Error & { code?: string }) =>
        settle(() => reject(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? openapiTooLarge(memoryMb) : err)),
      );
      worker.once('exit', (code) =>
        settle(() => reject(this.#closed ? shuttingDown(5) : new Error(`the OpenAPI import worker exited (${code})`))),
      );
      worker.postMessage(job, transferable(job));
    });
  }
}

/** The request body's bytes, handed over to the worker instead of copied when they own their whole buffer. */
function transferable(job: DocumentJob): ArrayBuffer[] {
  const bytes = 'body' in job.source ? job.source.body : undefined;
  if (!bytes) return [];
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? [buffer]
    : [];
}
