/**
 * The per-request pipeline behind InferenceService: bytes in, a decoded segmentation out, with the time spent
 * in each stage. Heavy work never runs on the calling thread: sharp reads the header and decodes on libuv
 * threads; the tensor fill, inference and the task decoder run in the model's runtime (worker threads).
 */
import type { ImageSource } from '../image/decode.js';
import { decodeForModel, type ImageInfo, probeImage } from '../image/index.js';
import type { PixelStatistics } from '../image/statistics.js';
import type { RawImage } from '../image/types.js';
import type { LoadedVersion } from '../models/index.js';
import type { SegmentationResult } from '../tasks/types.js';
import type { StageTimings } from './types.js';

export interface Segmentation {
  model: string;
  version: number;
  /** The traffic variant it was made for (set by the service; `default` when absent). */
  variant?: string;
  result: SegmentationResult;
  image: ImageInfo;
  timings: StageTimings;
  /** Brightness, contrast and colourfulness of the pixels the model saw (the runtime reads them while filling). */
  statistics?: PixelStatistics;
  /** Their perceptual hash, for models whose sampling suppresses near-duplicates. */
  hash?: bigint;
  /** The EXIF-oriented RGB image, present when `keepImage` was asked for (overlays). */
  rgb?: RawImage;
  /**
   * The compressed image, with `keepImage`: the encoder worker decodes its own copy of `rgb` from it. sharp's
   * pixel buffers live in external memory that postMessage cannot transfer, only copy on the sending thread
   * (measured: 147-460 ms for a 4000x4000 image here), while the compressed bytes are small.
   */
  source?: Extract<ImageSource, { kind: 'encoded' }>;
}

export interface SegmentOptions {
  /** Keep the decoded RGB image for overlay rendering (decoded once together with the tensor's content). */
  keepImage?: boolean;
  /** Longest wait for a free session (INFERENCE_TIMEOUT). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PipelineHooks {
  /** Called with the header's size once it passed the model's pixel limit, before any pixel is decoded. */
  beforeDecode(info: ImageInfo): void;
  /** The runtime's own time for this request (tensor fill, inference, decoding), in ms. */
  afterRun(serviceMs: number): void;
}

export async function runPipeline(
  loaded: LoadedVersion,
  bytes: Uint8Array,
  options: SegmentOptions,
  hooks: PipelineHooks,
): Promise<Segmentation> {
  const started = performance.now();
  const { config, labels, inputName, runtime } = loaded;
  const info = await probeImage(bytes, config.max_pixels);
  hooks.beforeDecode(info);
  const decoded = await decodeForModel(bytes, info, config.input, {
    maxPixels: config.max_pixels,
    keepImage: options.keepImage ?? false,
  });
  const decodeMs = performance.now() - started;
  const run = await runtime.run(
    {},
    {
      image: {
        name: inputName,
        content: decoded.content,
        transform: decoded.transform,
        input: config.input,
        hash: config.sampling?.dedupe !== undefined,
      },
      // The served name, which config.yaml may leave to the folder: decoders name the model in their errors.
      decode: {
        decoder: config.decoder,
        context: { config: { ...config, name: loaded.name }, labels, transform: decoded.transform },
      },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    },
  );
  if (!run.result) throw new Error('the runtime answered a decode request without a result');
  const { preprocess, queue, infer, postprocess } = run.timings;
  hooks.afterRun(preprocess + infer + postprocess);
  return {
    model: loaded.name,
    version: loaded.version,
    result: run.result,
    image: info,
    statistics: run.statistics,
    hash: run.hash,
    rgb: decoded.rgb,
    source: options.keepImage ? { kind: 'encoded', bytes, info, maxPixels: config.max_pixels } : undefined,
    timings: {
      decode: decodeMs,
      preprocess,
      queue,
      infer,
      postprocess,
      encode: 0,
      total: performance.now() - started,
    },
  };
}
