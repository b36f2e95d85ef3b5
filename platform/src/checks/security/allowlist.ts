/**
 * What generated code may use. Everything else is a finding: a blocklist is always one trick behind,
 * so the rules prove code harmless against these lists instead of hunting for known-bad names.
 */
export const SECURITY_ALLOWLIST = {
  /** Bare module specifiers a value import may name. */
  modules: [
    '@bmms/runner-template/runtime',
    'zod',
    'zod/v4',
    'zod/mini',
    // Vetted in dependency-allowlist.json; the github-issues template passes ctx.fetch as its request.fetch.
    '@octokit/rest',
  ],
  /** Relative imports must stay inside `src/` and name a `.ts` file. */
  relativeExtensions: ['.ts'],
  /** The only JSON a file may import (repo-relative), and only `with { type: 'json' }`. */
  jsonFiles: ['mcp.json'],
  /**
   * Globals that are values (constructors, namespaces): harmless to call and read, but never to mutate,
   * alias or index with a computed key (that is how `Array.prototype.some` gets replaced to defeat
   * the runtime's egress check).
   */
  globalObjects: [
    'Object',
    'Array',
    'String',
    'Number',
    'Boolean',
    'BigInt',
    'Symbol',
    'Math',
    'JSON',
    'Date',
    'RegExp',
    'Map',
    'Set',
    'WeakMap',
    'WeakSet',
    'Promise',
    'Error',
    'TypeError',
    'RangeError',
    'SyntaxError',
    'ReferenceError',
    'URIError',
    'AggregateError',
    'ArrayBuffer',
    'DataView',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int8Array',
    'Uint16Array',
    'Int16Array',
    'Uint32Array',
    'Int32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
    'Intl',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'Headers',
    'Request',
    'Response',
    'FormData',
    'Blob',
    // Web Crypto: hashing, HMAC signing, random UUIDs; no I/O.
    'crypto',
    // The runtime routes it through the instance's logger: one JSON line per message, secret values redacted.
    'console',
  ],
  /** Globals that are plain functions or constants: harmless anywhere, aliasing included. */
  globalFunctions: [
    'undefined',
    'NaN',
    'Infinity',
    'arguments',
    'parseInt',
    'parseFloat',
    'isNaN',
    'isFinite',
    'encodeURIComponent',
    'decodeURIComponent',
    'encodeURI',
    'decodeURI',
    'structuredClone',
    'atob',
    'btoa',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'queueMicrotask',
  ],
  /** `import.meta` properties that only describe the module itself. */
  importMeta: ['url', 'dirname', 'filename'],
} as const;
