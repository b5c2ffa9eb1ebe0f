/**
 * `segserve worker`: consumes the job queue on Redis with its own model pools (src/host/worker.ts). Limits come
 * from the same environment variables as the server's (SEGSERVE_JOB_ATTEMPTS, SEGSERVE_JOB_LOCK,
 * SEGSERVE_MAX_IMAGE_BYTES...), so one ConfigMap configures both. SIGTERM or SIGINT drains: no new input is
 * taken, those running finish and are recorded, exit 0; a second signal, or a drain longer than the grace
 * period, exits at once with 1 (the inputs it held go back to the queue once their lock expires).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { startWorker } from '../host/worker.js';
import { resolveLimits } from '../http/settings.js';
import { QUEUE_SETTINGS, summarizeStorage } from '../storage/settings.js';
import { port } from './arguments.js';
import { queueSettingsOf } from './serve.js';
import { stopOnSignals } from './signals.js';
import { addStorageOptions, storageSettingsOf } from './storage-options.js';

interface WorkerCommandOptions {
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
    .addOption(modelsOption())
    .addOption(
      new Option(
        '-c, --concurrency <n>',
        "inputs run at once; more than the models' instances plus one only wait on the pools",
      )
        .env('SEGSERVE_JOB_CONCURRENCY')
        .argParser(count)
        .default(2),
    )
    .addOption(
      new Option('-p, --port <n>', 'port of /healthz, /readyz and /metrics')
        .env('PORT')
        .argParser(port)
        .default(9091),
    )
    .addOption(new Option('--host <address>', 'address to listen on').env('HOST').default('0.0.0.0'))
    .option(
      '--allow-url <cidr>',
      'address or CIDR range URL inputs may reach although private or loopback (repeatable, comma-separated)',
      (value: string, previous: string[]) => [
        ...previous,
        ...value
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ],
      [],
    )
    .addOption(
      new Option('--log-level <level>', 'least severe level logged')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
        .env('LOG_LEVEL')
        .default('info'),
    );
  addStorageOptions(command);
  for (const row of QUEUE_SETTINGS) {
    command.addOption(new Option(`${row.flag} ${row.value}`, `${row.description} (env ${row.env})`));
  }
  command.action(async (options: WorkerCommandOptions) => {
    const limits = resolveLimits({}, process.env);
    const storage = storageSettingsOf(options);
    const queue = queueSettingsOf(options);
    const worker = await startWorker({
      modelsDir: options.models,
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
    log.info({ storage: summarizeStorage(storage), limits }, 'settings');
    stopOnSignals(log, limits.shutdownTimeoutMs, () => worker.close(), {
      closing: 'draining: taking no new input, finishing those running',
      inFlight: 'inputs running',
      closed: 'worker stopped',
    });
  });
}
