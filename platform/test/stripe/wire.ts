/**
 * The `stripe` package's types as the wire carries them, with Stripe's enums closed: Stripe adds `OtherString` to
 * every enum (`'active' | … | (string & {})`) so that a new value does not break a build; a stand-in that must speak
 * exactly the current API drops it. Decimals travel as strings; a form-encoded request has strings for scalars.
 */
import type Stripe from 'stripe';

type OtherString = string & Record<never, never>;
type Same<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;

/** A response body (or an event) as JSON carries it. */
export type Wire<T> = T extends unknown ? (Same<T, OtherString> extends true ? never : WireOf<T>) : never;
type WireOf<T> = T extends Stripe.Decimal
  ? string
  : T extends (...args: never[]) => unknown
    ? never
    : T extends readonly (infer U)[]
      ? Wire<U>[]
      : T extends object
        ? { [K in keyof T]: Wire<T[K]> }
        : T;

/** A request's parameters as form-encoding carries them: every scalar a string. */
export type Form<T> = T extends unknown ? (Same<T, OtherString> extends true ? never : FormOf<T>) : never;
type FormOf<T> = T extends Stripe.Decimal
  ? string
  : T extends readonly (infer U)[]
    ? Form<U>[]
    : T extends object
      ? { [K in keyof T]: Form<T[K]> }
      : T extends number | boolean
        ? string
        : T;
