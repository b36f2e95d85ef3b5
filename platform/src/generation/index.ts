import { EventEmitter } from 'node:events';
import type { PrismaClient } from '@bmms/prisma';
import { generationInterrupted } from '../errors.ts';
import type { GenerationConfig } from './config.ts';
import { AnthropicModel, type Model } from './model.ts';
import { DocumentReader } from './openapi/reader.ts';

/** One progress event of a generation, as stored and as streamed (`event: <type>`). */
export interface GenerationEvent {
  /** Position in the generation's log (the SSE id, for Last-Event-ID). */
  seq: number;
  type: string;
  at: string;
  [field: string]: unknown;
}

/** Statuses after which nothing more happens. */
export const TERMINAL = new Set(['completed', 'failed']);

/**
 * Generation state shared by the API handlers: the configuration, the model, the OpenAPI document reader (workers
 * off the main thread), live listeners of each generation's events and the runs in flight (so a shutdown can wait
 * for them).
 */
export class Generation {
  readonly config: GenerationConfig;
  readonly model: Model;
  readonly documents: DocumentReader;
  readonly #bus = new EventEmitter();
  readonly #running = new Set<Promise<unknown>>();

  constructor(config: GenerationConfig, model?: Model) {
    this.config = config;
    this.model = model ?? new AnthropicModel(config);
    this.documents = new DocumentReader({ timeoutMs: config.openapiTimeoutMs, memoryMb: config.openapiMemoryMb });
    this.#bus.setMaxListeners(0);
  }

  /** Calls `listener` with every new event of generation `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: GenerationEvent, status: string) => void): () => void {
    this.#bus.on(id, listener);
    return () => this.#bus.off(id, listener);
  }

  /** Tells the listeners of `id` about a stored event. */
  publish(id: string, event: GenerationEvent, status: string): void {
    this.#bus.emit(id, event, status);
  }

  /** Runs `work` in the background, remembered until it settles. */
  track(work: Promise<unknown>): void {
    // The run records its own failure; a failure to record it (database gone at shutdown) ends here.
    const p = work.catch(() => {}).finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  #closing = false;

  /** True once the platform shuts down: runs stop waiting for checks. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Shutdown: waits (bounded) for the runs in flight. */
  async drain(timeoutMs = 5000): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await this.documents.close();
  }

  /** Marks generations a previous process left mid-way as failed: their run died with it. */
  async resume(db: PrismaClient): Promise<number> {
    const { count } = await db.generation.updateMany({
      where: { status: { in: ['planning', 'generating', 'checking'] } },
      data: {
        status: 'failed',
        error: generationInterrupted().toRecord(),
      },
    });
    return count;
  }
}
