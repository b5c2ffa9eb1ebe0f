/**
 * `segserve worker`: consumes the job queue on Redis with its own model pools (src/host/worker.ts). Limits come
 * from the same environment variables as the server's (SEGSERVE_JOB_ATTEMPTS, SEGSERVE_JOB_LOCK,
 * SEGSERVE_MAX_IMAGE_BYTES...), and its model folder can be mirrored from the same bucket prefix
 * (`--models-sync`, SEGSERVE_MODELS_SYNC), so one ConfigMap configures both. SIGTERM or SIGINT drains: no new
 * input is taken, those running finish and are recorded, exit 0; a second signal, or a drain longer than the
 * grace period, exits at once with 1 (the inputs it held go back to the queue once their lock expires).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { startWorker } from '../host/worker.js';
import { resolveLimits } from '../http/settings.js';
import { QUEUE_SETTINGS, summarizeStorage } from '../storage/settings.js';
import { list, port } from './arguments.js';
import { type AppliedConfig, configOption, describeConfig } from './config/file.js';
import { LOG_LEVELS, settingOption } from './config/registry.js';
import { addModelsSyncOptions, describeModelsSync, modelsSyncSettingsOf, queueSettingsOf } from './serve.js';
import { stopOnSignals } from './signals.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

interface WorkerCommandOptions {
  config?: AppliedConfig;
  models: string;
  concurrency: number;
  port: number;
  host: string;
  allowUrl: string[];
  logLevel: string;
  [setting: string]: unknown;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new InvalidArgumentError('expected an integer from 1 to 256');
  return n;
}

export function addWorkerCommand(program: Command, modelsOption: () => Option): void {
  const command = program
    .command('worker')
    .description("run batch-job inputs from the queue on Redis, with this process's own model pools")
    // First: it fills the environment the options below read (see configOption).
    .addOption(configOption('worker'))
    .addOption(modelsOption())
    .addOption(settingOption('job-concurrency', 'worker', '<n>', '-c').argParser(count).default(2))
    .addOption(settingOption('port', 'worker', '<n>', '-p').argParser(port).default(9091))
    .addOption(settingOption('host', 'worker', '<address>').default('0.0.0.0'))
    .addOption(settingOption('allow-url', 'worker', '<cidr>').argParser(list).default([]))
    .addOption(settingOption('log-level', 'worker', '<level>').choices(LOG_LEVELS).default('info'));
  addStorageOptions(command);
  addModelsSyncOptions(command);
  for (const row of QUEUE_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  command.action(async (options: WorkerCommandOptions) => {
    const limits = resolveLimits({}, process.env);
    const storage = storageSettingsOf(options);
    const queue = queueSettingsOf(options);
    const modelsSync = modelsSyncSettingsOf(options, storage);
    const worker = await startWorker({
      modelsDir: options.models,
      modelsSync: modelsSync && { settings: modelsSync, intervalMs: limits.modelsSyncIntervalMs },
      storage,
      queue,
      concurrency: options.concurrency,
      port: options.port,
      host: options.host,
      limits,
      allowUrl: options.allowUrl,
      logger: { level: options.logLevel },
    });
    const { log } = worker.app;
    log.info(
      {
        config_file: describeConfig(options.config),
        models_sync: describeModelsSync(modelsSync),
        storage: summarizeStorage(storage),
        limits,
      },
      'settings',
    );
    stopOnSignals(log, limits.shutdownTimeoutMs, () => worker.close(), {
      closing: 'draining: taking no new input, finishing those running',
      inFlight: 'inputs running',
      closed: 'worker stopped',
    });
  });
}
