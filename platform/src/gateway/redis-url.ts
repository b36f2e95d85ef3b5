/** REDIS_URL, checked at start-up (config.ts) without loading the Redis client, which only REDIS_URL loads. */

/** Checks `REDIS_URL`: a redis:// or rediss:// URL (with a database number as its path, if any). */
export function parseRedisUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('must be a URL such as redis://127.0.0.1:6379/0');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`must be a redis:// or rediss:// URL, not ${url.protocol}//`);
  }
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname)) {
    throw new Error('its path, if any, must be a database number (redis://host:6379/0)');
  }
  return url;
}

/** The URL without its password, for logs. */
export function redactedRedisUrl(value: string): string {
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}
