/**
 * The server-name rule: one module, read by the manifest schema, the platform's API and generation prompts, and
 * the reconciler's preview names. Server names are DNS labels because they become hostnames in host mode.
 */

/** A server name's shape: a DNS label of 3-40 lowercase letters, digits and `-`, starting with a letter. */
export const SERVER_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

/**
 * Joins a server's name to its preview suffix (`<server>--pr-<N>`). It never occurs in a server name, so a
 * preview's route can never collide with a server's production route.
 */
export const PREVIEW_SEPARATOR = '--';

/** What a user sees when a server name breaks the rule. */
export const SERVER_NAME_MESSAGE = `must be a DNS label: 3-40 chars, lowercase letters, digits and - (never "${PREVIEW_SEPARATOR}"), start with a letter`;

/** Whether `name` is a valid server name. */
export function isServerName(name: unknown): name is string {
  return typeof name === 'string' && SERVER_NAME.test(name) && !name.includes(PREVIEW_SEPARATOR);
}
