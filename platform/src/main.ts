import { startPlatform, welcome } from './boot.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';

const log = createLogger({ svc: 'platform' });

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}

try {
  const platform = await startPlatform(config, log);
  process.stderr.write(welcome(platform, config.dataDir));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const graceMs = config.shutdownGraceMs ?? 25_000;
    log.info('shutting down: no new calls, draining the ones in flight', { signal, graceSeconds: graceMs / 1000 });
    // close() cuts what outlives the grace period; this only catches a close() that hangs after that.
    const force = setTimeout(() => process.exit(1), graceMs + 30_000);
    force.unref();
    await platform.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (err) {
  log.error('the platform failed to start', { err });
  process.stderr.write(`BuildMyMCPServer could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
