/** Why each security rule exists and how to fix code that breaks it: the text a reviewer reads. */
export const SECURITY_RULES = {
  'import-not-allowlisted': {
    why: 'generated code may import only the base runtime, zod and its own files under src/',
    fix: 'remove the import; use ctx.fetch for web APIs, ctx.secret for secrets and plain TypeScript for the rest',
  },
  'no-child-process': {
    why: 'generated code may not start processes',
    fix: 'remove it; call a web API with ctx.fetch instead',
  },
  'no-vm': {
    why: 'node:vm runs arbitrary code strings outside every check',
    fix: 'remove it; write the logic as ordinary TypeScript',
  },
  'no-worker': {
    why: 'workers and cluster processes run code outside the tool call and its timeout',
    fix: 'remove it; do the work inside the handler (await is fine)',
  },
  'no-network-module': {
    why: 'raw sockets, DNS and node:http bypass the egress allowlist that ctx.fetch enforces',
    fix: 'remove it; call the API with ctx.fetch and list its host in mcp.json egress',
  },
  'no-fs': {
    why: 'the runtime offers no file system API: files could leak other data or persist state',
    fix: 'remove it; keep data in memory or fetch it with ctx.fetch',
  },
  'no-inspector': {
    why: 'the inspector can attach a debugger and run code in the server process',
    fix: 'remove it',
  },
  'no-module-api': {
    why: 'node:module can create a require() and load any module',
    fix: 'remove it; import only @bmms/runner-template/runtime, zod and files under src/',
  },
  'no-process': {
    why: 'the process object exposes the environment, native bindings and process control',
    fix: 'remove it; read secrets with ctx.secret(NAME) and log with ctx.log',
  },
  'no-process-env': {
    why: 'the environment holds every secret of the instance; tools get only the secrets their manifest names',
    fix: 'declare the name in mcp.json secrets and read it with ctx.secret(NAME)',
  },
  'no-process-binding': {
    why: 'native bindings and dlopen load code that no check can see',
    fix: 'remove it',
  },
  'no-require': {
    why: 'require() loads any module at run time, past the import allowlist',
    fix: 'use a static import of an allowlisted module',
  },
  'no-dynamic-import': {
    why: 'a computed import() can load any module at run time, past the import allowlist',
    fix: "use a static import of an allowlisted module (or import() with a string literal such as import('zod'))",
  },
  'no-eval': {
    why: 'eval runs a string as code, so no check can see what it does',
    fix: 'remove it; write the logic as ordinary TypeScript (JSON.parse for JSON text)',
  },
  'no-function-constructor': {
    why: 'the Function constructor compiles a string into code, like eval',
    fix: 'remove it; write the function as ordinary TypeScript',
  },
  'no-constructor-access': {
    why: '.constructor chains reach the Function (and AsyncFunction) constructor, which compiles strings into code',
    fix: 'remove the .constructor access; use instanceof or a name you define yourself',
  },
  'no-global-object': {
    why: 'the global object reaches every global by name, past the allowlist',
    fix: 'use the allowlisted globals directly (JSON, Math, URL, …) and ctx for everything else',
  },
  'no-computed-global-access': {
    why: 'a computed key on a built-in can reach any of its members, including the dangerous ones',
    fix: 'use a literal member name, e.g. Math.max instead of Math[name]',
  },
  'no-built-member-name': {
    why: 'a member name assembled from pieces or char codes hides what is accessed (e.g. "constr" + "uctor")',
    fix: 'use a literal member name, or look the key up in a Map you control',
  },
  'no-dynamic-read': {
    why: 'a key known only at run time can name "constructor" or "__proto__", and a value read that way reaches the Function constructor or a prototype',
    fix: 'use the value only as data (compare, format, count), guard the read with Object.hasOwn(obj, key), or use a Map',
  },
  'no-computed-chain': {
    why: 'two computed keys in a row (a[x][y]) can reach "constructor" or "__proto__" from run-time strings',
    fix: 'validate the keys against a fixed list (a Map or a zod enum) before indexing',
  },
  'no-webassembly': {
    why: 'WebAssembly runs compiled code that no check can read',
    fix: 'remove it; write the logic in TypeScript',
  },
  'no-reflect-proxy': {
    why: 'Reflect and Proxy reach and rewire objects by computed names, past the other rules',
    fix: 'use plain property access and plain objects',
  },
  'no-proto': {
    why: '__proto__ and the legacy accessor helpers rewrite prototypes (prototype pollution)',
    fix: 'remove it; use Object.create(null) or a Map for dictionaries',
  },
  'no-prototype-access': {
    why: 'reaching or replacing prototypes lets code change how every object behaves, the runtime included',
    fix: 'remove it; use a class or a plain function instead',
  },
  'no-builtin-mutation': {
    why: 'changing a built-in (e.g. Array.prototype.some, JSON.parse) changes the runtime too and can defeat its egress check',
    fix: 'leave built-ins alone; write a helper function of your own',
  },
  'no-builtin-alias': {
    why: 'a built-in stored under another name escapes the rules that keep it from being mutated',
    fix: 'use the built-in by its own name where you need it',
  },
  'no-with': {
    why: 'with makes every name in its body resolve dynamically, so no rule can tell what is accessed',
    fix: 'use the object explicitly (obj.name)',
  },
  'no-debugger': {
    why: 'a debugger statement can pause the server process',
    fix: 'remove it',
  },
  'no-global-fetch': {
    why: 'the network is allowed only through ctx.fetch, which enforces the manifest egress allowlist',
    fix: 'use ctx.fetch(url, init) and list the host in mcp.json egress',
  },
  'no-shared-memory': {
    why: 'shared memory and Atomics can block the server and open timing side channels',
    fix: 'remove it',
  },
  'no-buffer': {
    why: 'Buffer is Node-only and Buffer.allocUnsafe hands out uninitialised memory that can hold secrets',
    fix: 'use Uint8Array, TextEncoder/TextDecoder and atob/btoa',
  },
  'no-import-meta': {
    why: 'import.meta beyond url/dirname/filename resolves or inspects modules at run time',
    fix: 'remove it',
  },
  'global-not-allowlisted': {
    why: 'generated code may use only allowlisted globals (standard built-ins such as JSON, Math, URL)',
    fix: 'use an allowlisted built-in, ctx (fetch, secret, log, signal) or a variable you declare',
  },
  'no-ambient-declaration': {
    why: '`declare` tells the type checker a name exists without defining it, hiding a global from the rules',
    fix: 'remove the declaration; import or define what you need',
  },
  'unchecked-file': {
    why: 'only .ts files under src/ are checked and bundled; anything else there is unchecked code',
    fix: 'rename it to .ts (it is then checked) or move it out of src/',
  },
  'view-inline-handler': {
    why: 'an inline event-handler attribute is code in a string: the view CSP must then allow inline handlers, and no bundle or check sees it',
    fix: "remove the attribute; add the listener in the view's script (element.addEventListener('click', …))",
  },
  'view-inline-script': {
    why: "a view's script comes from the repo's files, bundled and checked; inline script text is neither",
    fix: 'move the code into a .ts file beside the HTML and load it with <script type="module" src="./view.ts">',
  },
  'view-remote-script': {
    why: "a view's script is bundled from the repo only: a script from another origin is code nobody reviewed, and it can change after merge",
    fix: 'bundle the code instead: put it (or the package, if vetted) under ui/ and import it from the view script',
  },
  'view-javascript-url': {
    why: 'a javascript: URL is code in a string, outside every check',
    fix: "use a button with a listener added in the view's script",
  },
  'view-html-sink': {
    why: 'HTML built from strings runs whatever markup the data holds (tool results come from outside): script injection into the view',
    fix: 'build elements with document.createElement and set textContent; never innerHTML, outerHTML, insertAdjacentHTML or document.write',
  },
  'view-import-not-allowlisted': {
    why: 'a view script may import only the view bridge (@bmms/runner-template/view) and its own files under ui/',
    fix: 'remove the import; put the code under ui/ and import it with a relative path',
  },
} as const satisfies Record<string, { why: string; fix: string }>;

export type SecurityRule = keyof typeof SECURITY_RULES;
