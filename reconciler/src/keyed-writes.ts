/**
 * Writes kept in order per key: a write for a key starts once the previous one for that key settled (whatever its
 * outcome), so a later state never lands before an earlier one; writes for other keys run alongside.
 */
export class KeyedWrites {
  readonly #writes = new Map<string, Promise<void>>();

  /** Queues `task` behind the earlier writes of `key`; resolves (or rejects) with it. */
  run(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#writes.get(key) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    this.#writes.set(key, run);
    void run
      .catch(() => {})
      .finally(() => {
        if (this.#writes.get(key) === run) this.#writes.delete(key);
      });
    return run;
  }

  /** Resolves once every write queued so far settled. */
  async flushed(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }
}
