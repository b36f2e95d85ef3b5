/** Counts what each organization has in flight (log streams, log searches) and refuses one over the bound. */
export class OrgSlots {
  readonly #open = new Map<string, number>();
  readonly #max: number;
  readonly #refuse: (max: number) => Error;

  /** `refuse(max)` is the error thrown (an ApiError of the table) when an organization has no slot free. */
  constructor(max: number, refuse: (max: number) => Error) {
    this.#max = max;
    this.#refuse = refuse;
  }

  /** Takes a slot of `orgId`'s (throws `refuse(max)` when none is free); returns the function that gives it back. */
  take(orgId: string): () => void {
    const open = this.#open.get(orgId) ?? 0;
    if (open >= this.#max) throw this.#refuse(this.#max);
    this.#open.set(orgId, open + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.#open.get(orgId) ?? 1) - 1;
      if (left <= 0) this.#open.delete(orgId);
      else this.#open.set(orgId, left);
    };
  }
}
