import type { Request, Response, Router } from 'express';
import type { Principal } from '../accounts/principal.ts';
import { invalidRequest } from '../errors.ts';

/** The caller, as requireApiKey (or a session) resolved it. */
export const principalOf = (res: Response): Principal => res.locals.principal as Principal;

/** The request id the requestId middleware gave this request. */
export const requestIdOf = (res: Response): string => res.locals.requestId as string;

/** Path parameters that hold whole numbers (change numbers); each is checked by `numericPathParams`. */
export const NUMERIC_PATH_PARAMS = ['number'] as const;

/** The largest number a path may name: the database stores them as 32-bit integers. */
export const MAX_PATH_NUMBER = 2 ** 31 - 1;

/** Path parameter `name` as a whole number from 1 to 2^31-1; anything else is 400 invalid_request naming it. */
export function pathNumber(req: Request, name: (typeof NUMERIC_PATH_PARAMS)[number]): number {
  const raw = String(req.params[name] ?? '');
  const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= MAX_PATH_NUMBER)) {
    throw invalidRequest(`path parameter "${name}" must be a whole number from 1 to ${MAX_PATH_NUMBER}`, {
      parameter: name,
    });
  }
  return n;
}

/** Validates every numeric path parameter of `router`'s routes before any handler runs. */
export function numericPathParams(router: Router): void {
  for (const name of NUMERIC_PATH_PARAMS) {
    router.param(name, (req, _res, next) => {
      try {
        pathNumber(req, name);
        next();
      } catch (err) {
        next(err);
      }
    });
  }
}
