import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** What `bmms login` stores. */
export interface CliConfig {
  url: string;
  key: string;
}

/** The config file: $XDG_CONFIG_HOME/bmms/config.json, else ~/.config/bmms/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'bmms', 'config.json');
}

/** Reads the stored config, or undefined when there is none. */
export async function readConfig(env: NodeJS.ProcessEnv = process.env): Promise<Partial<CliConfig> | undefined> {
  try {
    const parsed = JSON.parse(await readFile(configPath(env), 'utf8')) as Record<string, unknown>;
    return {
      ...(typeof parsed.url === 'string' ? { url: parsed.url } : {}),
      ...(typeof parsed.key === 'string' ? { key: parsed.key } : {}),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes the config with mode 0600 (it holds an API key), atomically. */
export async function writeConfig(config: CliConfig, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = configPath(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}

/** The URL and key to use: BMMS_URL / BMMS_API_KEY win over the stored config. */
export async function resolveConfig(env: NodeJS.ProcessEnv = process.env): Promise<Partial<CliConfig>> {
  const stored = (await readConfig(env)) ?? {};
  return {
    ...stored,
    ...(env.BMMS_URL ? { url: env.BMMS_URL } : {}),
    ...(env.BMMS_API_KEY ? { key: env.BMMS_API_KEY } : {}),
  };
}
