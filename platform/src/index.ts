export { type Platform, startPlatform, welcome } from './boot.ts';
export { type Config, loadConfig } from './config.ts';
export { createLogger, type Logger, silentLogger } from './logger.ts';
