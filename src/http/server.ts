/**
 * The server process: open the model repository (on a first run, an empty one gets the bundled person model),
 * build the app, listen; and the orderly way down (stop accepting, let requests in flight finish, drain and
 * close the worker pools).
 */
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { SegserveError } from '../errors.js';
import { ModelRepository, type RepositoryEvent } from '../models/index.js';
import { provisionEmptyRepository } from '../models/provision.js';
import { buildApp } from './app.js';
import type { AppOptions, LoggerOptions } from './options.js';

export interface ServeOptions extends Omit<AppOptions, 'repository' | 'logger'> {
  modelsDir: string;
  /** A repository folder without any model (or none at all) first gets the bundled person model. */
  provisionEmpty?: boolean;
  port: number;
  host: string;
  logger?: false | LoggerOptions;
}

export interface RunningServer {
  app: FastifyInstance;
  repository: ModelRepository;
  /** Where it listens, e.g. http://0.0.0.0:8080 */
  url: string;
  /** Stops accepting, waits for requests in flight, then closes every model's workers. */
  close(): Promise<void>;
}

/** pino's numeric levels, so start-up lines written before the app exists read like the app's own. */
const LEVELS = { info: 30, error: 50 } as const;

type StartupEvent =
  | RepositoryEvent
  | { type: 'provisioned'; model: string; onnxPath: string; source: string; licence: string; note: string };

function startupLogger(logger: false | LoggerOptions | undefined): (event: StartupEvent) => void {
  if (logger === false) return () => {};
  const stream = logger?.stream ?? process.stdout;
  return (event) => {
    const level = event.type.endsWith('failed') ? LEVELS.error : LEVELS.info;
    stream.write(
      `${JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: hostname(), msg: event.type, ...event })}\n`,
    );
  };
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { modelsDir, port, host, provisionEmpty, ...appOptions } = options;
  const log = startupLogger(options.logger);
  if (existsSync(modelsDir) && !statSync(modelsDir).isDirectory()) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `model repository ${modelsDir} is not a folder` });
  }
  if (provisionEmpty) {
    const outcome = await provisionEmptyRepository(modelsDir);
    if (outcome.provisioned) {
      log({
        type: 'provisioned',
        model: outcome.model,
        onnxPath: outcome.onnxPath,
        source: 'npm package @mediapipe/selfie_segmentation (selfie_segmentation.tflite)',
        licence: 'Apache-2.0',
        note: `first run: ${modelsDir} held no model, so MediaPipe's person segmentation model was imported as "${outcome.model}"`,
      });
    }
  }
  const repository = await ModelRepository.open(modelsDir, { defaultModel: options.defaultModel, log });
  let app: FastifyInstance;
  try {
    app = await buildApp({ ...appOptions, repository });
    await app.listen({ port, host });
  } catch (error) {
    await repository.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    app,
    repository,
    url: app.listeningOrigin,
    close() {
      closing ??= app.close().finally(() => repository.close());
      return closing;
    },
  };
}
