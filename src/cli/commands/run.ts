import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { ConfigError, PgherdError } from '../../lib/errors.js';
import { createLogger } from '../../lib/logger.js';
import { startAgent } from '../../node/agent.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_START_FAILED, EXIT_USAGE_OR_CONFIG } from '../exit-codes.js';
import type { CommandIo } from './validate-config.js';

/**
 * `pgherd run --config FILE`: validate the configuration (exit 2 and nothing
 * started when it is invalid), start the agent, run until SIGTERM/SIGINT,
 * then shut down cleanly: PostgreSQL is stopped unless the cluster is
 * paused (a primary hands its lease back first, so failover is immediate).
 */
export function registerRun(program: Command, io: CommandIo, setExitCode: (code: number) => void, waitForSignal: () => Promise<NodeJS.Signals>): void {
  program
    .command('run')
    .description('run the agent: Raft member, HA loop, PostgreSQL controller, HTTP health checks')
    .option('-c, --config <file>', 'the YAML configuration file (without it: the environment and defaults only)')
    .action(async (options: { config?: string }) => {
      setExitCode(await run(options.config, io, waitForSignal));
    });
}

async function run(file: string | undefined, io: CommandIo, waitForSignal: () => Promise<NodeJS.Signals>): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(file === undefined ? { env: io.env } : { file, env: io.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`error: ${error.message.replace(/\s*\n\s*/g, ' ')}\n`);
    return EXIT_USAGE_OR_CONFIG;
  }
  const log = createLogger({ level: config.log.level, base: { node: config.name, cluster: config.cluster_name } });
  routeGrpcLogs(log);
  let agent;
  try {
    agent = await startAgent(config, log);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT_USAGE_OR_CONFIG;
    }
    if (error instanceof PgherdError) {
      log.error({ code: error.code, err: error }, 'agent.start_failed');
      io.stderr(`error: ${error.code}: ${error.message}\n`);
      return EXIT_START_FAILED;
    }
    log.error({ err: error }, 'agent.start_failed');
    return EXIT_INTERNAL;
  }
  const signal = await waitForSignal();
  log.info({ signal }, 'agent.signal');
  await agent.stop();
  return EXIT_OK;
}

/** grpc-js logs go through pino (component grpc) instead of stderr. */
function routeGrpcLogs(log: ReturnType<typeof createLogger>): void {
  const grpcLog = log.child({ component: 'grpc' });
  grpc.setLogger({
    error: (...args: unknown[]) => grpcLog.warn({ detail: args.map(String).join(' ') }, 'grpc.log'),
    info: (...args: unknown[]) => grpcLog.debug({ detail: args.map(String).join(' ') }, 'grpc.log'),
    debug: (...args: unknown[]) => grpcLog.debug({ detail: args.map(String).join(' ') }, 'grpc.log'),
  });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}
