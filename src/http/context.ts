/** What every route plugin of the app shares, built once by `buildApp`. */
import type { FastifyReply } from 'fastify';
import { SegserveError } from '../errors.js';
import type { LoadedVersion, ModelRepository } from '../models/index.js';
import { type Segmentation, segmentWith } from '../serving/pipeline.js';
import type { UrlFetcher } from './fetch-url.js';
import type { HttpLimits } from './options.js';

export interface HttpContext {
  repository: ModelRepository;
  limits: HttpLimits;
  fetcher: UrlFetcher;
  /** Real path of the folder `/predict/batch` reads `paths` from. */
  batchRoot?: string;
  /** The operator's default model; without one, the repository's first ready model. */
  defaultModel?: string;
}

/**
 * The version a request names (model or default model, version or newest ready), resolved before the body is
 * read so that a wrong name or a full queue is answered without reading or decoding the image.
 */
export function resolveModel(
  context: HttpContext,
  named: string | undefined,
  version?: number,
): LoadedVersion {
  const model = named ?? context.defaultModel ?? context.repository.defaultModel();
  if (model === undefined) throw new SegserveError('NO_DEFAULT_MODEL');
  const loaded = context.repository.resolve(model, version);
  // The pool would refuse the job anyway once the image is decoded: refuse before spending the CPU on it.
  const { busy, instances, queued } = loaded.pool.stats();
  if (busy >= instances && queued >= loaded.config.max_queue) {
    throw new SegserveError('QUEUE_FULL', { model: loaded.name, queued });
  }
  return loaded;
}

/**
 * Runs the pipeline for one request with the server's queue timeout. A client that hangs up while its job
 * still waits for a worker takes the job out of the queue, so abandoned requests do not cost inference.
 */
export function segmentForRequest(
  context: HttpContext,
  reply: FastifyReply,
  loaded: LoadedVersion,
  bytes: Uint8Array,
  keepImage = false,
): Promise<Segmentation> {
  const abandoned = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abandoned.abort(new SegserveError('REQUEST_ABORTED'));
  };
  reply.raw.once('close', onClose);
  return segmentWith(loaded, bytes, {
    keepImage,
    timeoutMs: context.limits.inferenceTimeoutMs,
    signal: abandoned.signal,
  }).finally(() => reply.raw.off('close', onClose));
}
