import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ApiError, sentError } from '../../errors.ts';
import { type DocumentJob, runJob } from './job.ts';
import { WORKER_NICE, type WorkerAnswer } from './reader.ts';

// The import worker: one job per worker, started by DocumentReader (reader.ts) with a time and a memory limit.

// Below the main thread on a busy machine: on Linux a nice value belongs to the thread, so only this worker gives way
// to API calls and MCP traffic (elsewhere it would be the whole process: left alone).
if (process.platform === 'linux') setPriority(Math.max(getPriority(), WORKER_NICE));

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
