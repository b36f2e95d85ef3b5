import type { ParseArgsOptionsConfig } from 'node:util';
import type { BmmsClient } from './client.ts';
import type { Io } from './io.ts';

/** The parsed options of one invocation. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command runs with. */
export interface CommandContext {
  io: Io;
  /** Positional arguments after the command words. */
  args: string[];
  values: OptionValues;
  /** Whether `--json` was given: print the API's JSON and nothing else on stdout. */
  json: boolean;
  /** A client for the configured platform (throws a usage error when none is configured). */
  client(): Promise<BmmsClient>;
}

/** One command of the CLI, such as `servers list`. */
export interface Command {
  /** The words that name it: `['servers', 'list']`. */
  words: string[];
  /** Its arguments and options, as shown in help: `<server> [--state open|merged|closed]`. */
  usage: string;
  /** One line on what it does. */
  summary: string;
  /** Positional arguments it takes: [min, max]. */
  arity: [number, number];
  options?: ParseArgsOptionsConfig;
  run(ctx: CommandContext): Promise<void>;
}

/** A string option's value, or undefined. */
export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
