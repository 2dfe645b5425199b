import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';

/**
 * The logging surface pure code may depend on: pino's shape (fields first,
 * then a stable event name), without importing pino itself.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, event: string): void;
  info(fields: Record<string, unknown>, event: string): void;
  warn(fields: Record<string, unknown>, event: string): void;
  error(fields: Record<string, unknown>, event: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export interface LoggerFactoryOptions {
  /** pino level; defaults to PGHERD_LOG_LEVEL or 'info'. */
  level?: string;
  /** Base fields on every line (e.g. {node: 'n1'}). */
  base?: Record<string, unknown>;
  /** Where to write; defaults to stdout (fd 1). */
  destination?: NodeJS.WritableStream;
}

/** The one place pino is configured. Components take `.child({component})`. */
export function createLogger(options: LoggerFactoryOptions = {}): PinoLogger {
  const pinoOptions: LoggerOptions = {
    level: options.level ?? process.env.PGHERD_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}
