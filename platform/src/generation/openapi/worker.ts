import { parentPort } from 'node:worker_threads';
import { ApiError, sentError } from '../../errors.ts';
import { type DocumentJob, runJob } from './job.ts';
import type { WorkerAnswer } from './reader.ts';

// The import worker: one job per worker, started by DocumentReader (reader.ts) with a time and a memory limit.

parentPort?.once('message', async (job: DocumentJob) => {
  let answer: WorkerAnswer;
  try {
    answer = { ok: true, value: await runJob(job) };
  } catch (err) {
    answer =
      err instanceof ApiError
        ? { ok: false, error: sentError(err) }
        : { ok: false, unexpected: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  parentPort?.postMessage(answer);
});
