/**
 * Process set-up shared by every entry point that serves (the HTTP server now, job workers later): open the
 * model repository (on a first run, an empty one gets the bundled person model), and build the one
 * InferenceService over it. Start-up events are logged as JSON lines that read like the app's own.
 */
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { SegserveError } from '../errors.js';
import type { SyncEvent } from '../lifecycle/repository-sync.js';
import type { WatchEvent } from '../lifecycle/repository-watch.js';
import { ModelRepository, type RepositoryEvent } from '../models/index.js';
import { provisionEmptyRepository } from '../models/provision.js';
import { InferenceService } from '../serving/service.js';

export interface ServiceSetup {
  modelsDir: string;
  /** A repository folder without any model (or none at all) first gets the bundled person model. */
  provisionEmpty?: boolean;
  /** The model for requests that name none; default: chosen per route among the ready models. */
  defaultModel?: string;
  /** Pixels of decoded images in flight across the server (see serving/admission.ts). */
  decodedPixelBudget?: number;
  /** Versions kept loaded whatever the version policy says (those aliases point at): see RepositoryOptions. */
  keepVersions?: (model: string) => Iterable<number>;
  /** After a version is unloaded or replaced, longest wait for its requests (default 120 s). */
  unloadTimeoutMs?: number;
}

export type StartupEvent =
  | RepositoryEvent
  | { type: 'provisioned'; model: string; onnxPath: string; source: string; licence: string; note: string }
  | { type: 'default-model'; route: string; model: string; reason: string }
  | { type: 'no-default-model'; note: string }
  | { type: 'subscriber-failed'; event: string; subscriber: string; error: string }
  | { type: 'aliases-unread'; error: string; note: string }
  | { type: 'traffic-unread'; error: string; note: string }
  | WatchEvent
  | SyncEvent;

/** pino's numeric levels, so start-up lines written before the app exists read like the app's own. */
const LEVELS = { info: 30, warn: 40, error: 50 } as const;

export type StartupLog = (event: StartupEvent) => void;

/**
 * Logged as warnings: what the operator should know of but that changed nothing served (a failed reload keeps
 * the version before serving; a failed sync pass is tried again), and failures that are not the server's.
 */
const WARNINGS = new Set<StartupEvent['type']>([
  'no-default-model',
  'subscriber-failed',
  'aliases-unread',
  'traffic-unread',
  'watch-unreadable',
  'version-reload-failed',
  'model-reload-failed',
  'models-sync-failed',
]);

export function startupLogger(stream: NodeJS.WritableStream | false): StartupLog {
  if (stream === false) return () => {};
  return (event) => {
    const level = WARNINGS.has(event.type)
      ? LEVELS.warn
      : event.type.endsWith('failed')
        ? LEVELS.error
        : LEVELS.info;
    stream.write(
      `${JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: hostname(), msg: event.type, ...event })}\n`,
    );
  };
}

/** Which model answers requests that name none, per kind of route: said once at start, not guessed later. */
function logDefaults(service: InferenceService, log: StartupLog): void {
  const general = service.defaultModel();
  if (!general) {
    log({ type: 'no-default-model', note: 'no model is ready: requests must name one (?model=)' });
    return;
  }
  log({ type: 'default-model', route: 'all', ...general });
  const detect = service.defaultModel('instance');
  if (detect && detect.model !== general.model)
    log({ type: 'default-model', route: '/api/detect', ...detect });
}

export async function openService(setup: ServiceSetup, log: StartupLog): Promise<InferenceService> {
  const { modelsDir } = setup;
  if (existsSync(modelsDir) && !statSync(modelsDir).isDirectory()) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `model repository ${modelsDir} is not a folder` });
  }
  if (setup.provisionEmpty) {
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
  const repository = await ModelRepository.open(modelsDir, {
    log,
    keepVersions: setup.keepVersions,
    retireTimeoutMs: setup.unloadTimeoutMs,
  });
  const service = new InferenceService(repository, {
    defaultModel: setup.defaultModel,
    decodedPixelBudget: setup.decodedPixelBudget,
    // A failing subscriber (metrics, sampling...) is a warning for the operator, never a failed request.
    onEventFailure: ({ type, subscriber, error }) =>
      log({
        type: 'subscriber-failed',
        event: type,
        subscriber,
        error: error instanceof Error ? error.message : String(error),
      }),
  });
  logDefaults(service, log);
  return service;
}
