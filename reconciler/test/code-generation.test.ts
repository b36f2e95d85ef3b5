import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { render } from '@bmms/runner-template';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleCache, DockerRuntime, ProcessRuntime, probeInstance, type Runtime } from '../src/index.ts';
import { containerCommand } from '../src/runtimes/docker-image.ts';
import { INSTANCE_NODE_FLAGS } from '../src/runtimes/health.ts';
import { callTool, NODE_BIN } from '../src/testing.ts';

// Defence in depth: a generated server that the security check would refuse (it is bundled here without
// running the check, as if the check had missed it) must still not compile strings into code at run time.
// Each attempt below is written the way the hostile servers of issue #11 did it.
const HOSTILE_TOOL = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

type Ctor = (...body: string[]) => (...args: unknown[]) => unknown;
const key = ['con', 'struc', 'tor'].join('');
const attempts: Record<string, () => unknown> = {
  functionConstructor: () => new Function('return typeof process')(),
  asyncFunction: () => {
    const { constructor: AsyncFunction } = (async () => {}) as unknown as { constructor: Ctor };
    return AsyncFunction('return 1');
  },
  generatorFunction: () => ((function* () {}) as unknown as Record<string, Ctor>)[key]!('yield 1'),
  parameterPattern: () => (({ constructor: F }: { constructor: Ctor }) => F('return process.env')())(
    (() => 0) as unknown as { constructor: Ctor },
  ),
  indirectEval: () => (0, eval)('typeof process'),
  childProcess: () => {
    const F = ((() => 0) as unknown as Record<string, Ctor>)[key]!;
    return F('return process.getBuiltinModule("child_process").execFileSync("id").toString()')();
  },
};

export default defineTool({
  name: 'escape',
  input: {},
  handler: () =>
    Object.fromEntries(
      Object.entries(attempts).map(([name, attempt]) => {
        try {
          return [name, { ran: true, value: String(attempt()) }];
        } catch (err) {
          return [name, { ran: false, error: (err as Error).name }];
        }
      }),
    ),
});
`;

// An ordinary tool: zod validation (refinements, defaults, nested objects) and the SDK must work under the flag.
const NORMAL_TOOL = `import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';

const Order = z.object({ sku: z.string().regex(/^[A-Z]{3}-\\d+$/), qty: z.number().int().min(1).default(1) });

export default defineTool({
  name: 'price',
  input: { order: Order, note: z.string().max(20).optional() },
  handler: ({ order, note }) => ({ sku: order.sku, total: order.qty * 2.5, note: note ?? null }),
});
`;

const TREE = 'c'.repeat(40);
const MANIFEST = { tools: [{ name: 'escape' }, { name: 'price' }] };
let tmp: string;
let bundlePath: string;
const runtimes: Runtime[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bmms-codegen-'));
  const files = render({
    name: 'codegen-probe',
    version: '1.0.0',
    description: 'Tries to compile strings into code.',
    secrets: [],
    egress: [],
    tools: [
      { name: 'escape', description: 'Tries every way to compile a string.', source: HOSTILE_TOOL },
      {
        name: 'price',
        description: 'Prices an order.',
        inputSchema: {
          type: 'object' as const,
          properties: { order: { type: 'object' }, note: { type: 'string' } },
          required: ['order'],
        },
        source: NORMAL_TOOL,
      },
    ].map((t) => ({
      inputSchema: { type: 'object' as const, properties: {}, required: [] },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      ...t,
    })),
  });
  const bundles = new BundleCache({ dir: join(tmp, 'bundles') });
  bundlePath = (
    await bundles.ensure(TREE, async (dir) => {
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), text);
      }
    })
  ).path;
}, 60_000);

afterAll(async () => {
  for (const rt of runtimes.splice(0)) {
    await Promise.all(rt.list().map((i) => rt.stop(i.id, { graceMs: 1000 })));
    await rt.cleanupOrphans();
  }
  await rm(tmp, { recursive: true, force: true });
});

const ATTEMPTS = [
  'functionConstructor',
  'asyncFunction',
  'generatorFunction',
  'parameterPattern',
  'indirectEval',
  'childProcess',
];
const refusedEverywhere = Object.fromEntries(ATTEMPTS.map((name) => [name, { ran: false, error: 'EvalError' }]));

describe('instances run without code generation from strings', () => {
  it('every runtime gets the flag from the one constant', () => {
    expect(INSTANCE_NODE_FLAGS).toContain('--disallow-code-generation-from-strings');
    const command = containerCommand({
      serverName: 's',
      revision: 'r',
      treeSha: TREE,
      bundlePath: '/x/bundle.mjs',
      env: {},
      limits: { memoryMb: 128, cpu: 0.5, timeoutMs: 1000 },
    });
    expect(command).toContain('--disallow-code-generation-from-strings');
  });

  it('without the flag the hostile bundle does escape (the probe below is real)', async () => {
    const socketPath = join(tmp, 'bare.sock');
    const child: ChildProcess = spawn(NODE_BIN, [bundlePath], {
      env: { PATH: process.env.PATH ?? '', BMMS_SOCKET: socketPath, BMMS_REVISION: 'r', BMMS_TIMEOUT_MS: '5000' },
      stdio: 'ignore',
    });
    try {
      for (let i = 0; i < 200 && !existsSync(socketPath); i++) await sleep(25);
      const result = (await callTool(socketPath, 'escape')) as Record<string, { ran: boolean; value?: string }>;
      expect(result.functionConstructor).toEqual({ ran: true, value: 'object' });
      expect(result.indirectEval).toEqual({ ran: true, value: 'object' });
      expect(result.childProcess?.ran).toBe(true);
      expect(result.childProcess?.value).toMatch(/uid=/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  /** The Docker engine of DOCKER_HOST, or null when none answers. */
  const docker = async (): Promise<Docker | null> => {
    const client = new Docker();
    return client.info().then(
      () => client,
      () => null,
    );
  };
  const cases: [string, (dataDir: string) => Promise<Runtime | null>][] = [
    [
      'process, bubblewrap',
      async (dataDir) => (existsSync('/usr/bin/bwrap') ? new ProcessRuntime({ dataDir, log: () => {} }) : null),
    ],
    [
      'process, no sandbox (insecure)',
      async (dataDir) =>
        new ProcessRuntime({ dataDir, insecure: true, bwrapPath: '/nonexistent/bwrap', log: () => {} }),
    ],
    [
      'docker',
      async (dataDir) => {
        const client = await docker();
        return client ? new DockerRuntime({ dataDir, docker: client, nodePath: NODE_BIN, log: () => {} }) : null;
      },
    ],
  ];

  describe.each(cases)('%s runtime', (_name, make) => {
    it('eval, Function, AsyncFunction and GeneratorFunction throw EvalError; a normal zod tool still serves', async (t) => {
      const rt = await make(join(tmp, `data-${runtimes.length}`));
      if (!rt) return t.skip();
      runtimes.push(rt);
      const instance = await rt.start({
        serverName: 'codegen-probe',
        revision: 'f'.repeat(40),
        treeSha: TREE,
        bundlePath,
        env: {},
        limits: { memoryMb: 128, cpu: 0.5, timeoutMs: 10_000 },
      });
      await expect(probeInstance(instance.socketPath, MANIFEST)).resolves.toMatchObject({ tools: ['escape', 'price'] });
      expect(await callTool(instance.socketPath, 'escape')).toEqual(refusedEverywhere);
      expect(await callTool(instance.socketPath, 'price', { order: { sku: 'ABC-12', qty: 4 } })).toEqual({
        sku: 'ABC-12',
        total: 10,
        note: null,
      });
      await rt.stop(instance.id, { graceMs: 2000 });
    }, 120_000);
  });
});
