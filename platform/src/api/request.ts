import type { Request, Response } from 'express';
import type { Principal } from '../accounts/principal.ts';
import { invalidRequest } from '../errors.ts';

/** The caller, as requireApiKey (or a session) resolved it. */
export const principalOf = (res: Response): Principal => res.locals.principal as Principal;

/** The request id the requestId middleware gave this request. */
export const requestIdOf = (res: Response): string => res.locals.requestId as string;

/** The JSON body as an object (`{}` when there is none); anything else is a 400. */
export function jsonBody(req: Request): Record<string, unknown> {
  if (req.body === undefined) return {};
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
    throw invalidRequest('the request body must be a JSON object');
  }
  return req.body as Record<string, unknown>;
}
