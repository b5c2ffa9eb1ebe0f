/**
 * The per-request pipeline behind InferenceService: bytes in, a decoded segmentation out, with the time spent
 * in each stage. Heavy work never runs on the calling thread: sharp reads the header and decodes on libuv
 * threads; the tensor fill, inference and the task decoder run in the model's runtime (worker threads).
 *
 * A model with a gate (`pipeline.gate`) decodes the image once in full, lets the gate classifier see it first
 * (its own resize, on its own runtime), and resizes and runs the model only when the gate accepted it.
 */
import type { ImageSource } from '../image/decode.js';
import {
  contentFromImage,
  type DecodedForModel,
  decodeForModel,
  decodeProbed,
  type ImageInfo,
  probeImage,
} from '../image/index.js';
import type { PixelStatistics } from '../image/statistics.js';
import type { RawImage } from '../image/types.js';
import type { GateConfig, LoadedVersion } from '../models/index.js';
import type { RunResult } from '../runtime/index.js';
import type { ClassificationResult, SegmentationResult } from '../tasks/types.js';
import type { GateDecision } from './gate.js';
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
  /** Requests in the inference that served this one (config `batching`; 1 when it ran alone). */
  batchSize?: number;
  /** The EXIF-oriented RGB image, present when `keepImage` was asked for (overlays). */
  rgb?: RawImage;
  /**
   * The compressed image, with `keepImage`: the encoder worker decodes its own copy of `rgb` from it. sharp's
   * pixel buffers live in external memory that postMessage cannot transfer, only copy on the sending thread
   * (measured: 147-460 ms for a 4000x4000 image here), while the compressed bytes are small.
   */
  source?: Extract<ImageSource, { kind: 'encoded' }>;
  /** Models with a gate: what the gate classifier said (it accepted the image, or there is no segmentation). */
  gate?: GateDecision;
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

/** The gate of a gated model's request, as the serving core admitted it. */
export interface GateStage {
  /** The gate classifier's version (admitted and held for this request). */
  loaded: LoadedVersion;
  config: GateConfig;
  /** Decides on the classifier's answer; throws (GATE_REFUSED) to refuse the image before it is segmented. */
  decide(result: ClassificationResult, ms: number): GateDecision;
  /** The classifier's runtime time for this request, for its Retry-After estimate. */
  observeService(ms: number): void;
}

type Content = Pick<DecodedForModel, 'content' | 'transform'>;

/** One model's run on decoded content: tensor fill, inference and its task decoder, in its runtime. */
async function runModel(
  loaded: LoadedVersion,
  { content, transform }: Content,
  options: SegmentOptions,
): Promise<RunResult & { result: SegmentationResult }> {
  const { config, labels, inputName, runtime } = loaded;
  const run = await runtime.run(
    {},
    {
      image: {
        name: inputName,
        content,
        transform,
        input: config.input,
        hash: config.sampling?.dedupe !== undefined,
      },
      // The served name, which config.yaml may leave to the folder: decoders name the model in their errors.
      decode: {
        decoder: config.decoder,
        context: { config: { ...config, name: loaded.name }, labels, transform },
      },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    },
  );
  if (!run.result) throw new Error('the runtime answered a decode request without a result');
  return { ...run, result: run.result };
}

const serviceMs = ({ preprocess, infer, postprocess }: RunResult['timings']) =>
  preprocess + infer + postprocess;

export async function runPipeline(
  loaded: LoadedVersion,
  bytes: Uint8Array,
  options: SegmentOptions,
  hooks: PipelineHooks,
  gate?: GateStage,
): Promise<Segmentation> {
  if (gate) return runGated(loaded, gate, bytes, options, hooks);
  const started = performance.now();
  const { config } = loaded;
  const info = await probeImage(bytes, config.max_pixels);
  hooks.beforeDecode(info);
  const decoded = await decodeForModel(bytes, info, config.input, {
    maxPixels: config.max_pixels,
    keepImage: options.keepImage ?? false,
  });
  const decodeMs = performance.now() - started;
  const run = await runModel(loaded, decoded, options);
  hooks.afterRun(serviceMs(run.timings));
  return segmentation(loaded, bytes, info, run, options, {
    rgb: decoded.rgb,
    maxPixels: config.max_pixels,
    decodeMs,
    started,
  });
}

/**
 * The gated pipeline: one probe and one decode (under the stricter of the two models' pixel limits), the gate
 * classifier on its content, its decision, and only then the model on its own content of the same pixels.
 * `timings.decode` counts the decode and the model's resize, `timings.gate` the gate's resize, run and decision.
 */
async function runGated(
  loaded: LoadedVersion,
  gate: GateStage,
  bytes: Uint8Array,
  options: SegmentOptions,
  hooks: PipelineHooks,
): Promise<Segmentation> {
  const started = performance.now();
  const maxPixels = Math.min(loaded.config.max_pixels, gate.loaded.config.max_pixels);
  const info = await probeImage(bytes, maxPixels);
  hooks.beforeDecode(info);
  const rgb = await decodeProbed(bytes, info, maxPixels);
  const decoded = performance.now();
  const gateRun = await runModel(gate.loaded, await contentFromImage(rgb, gate.loaded.config.input), options);
  gate.observeService(serviceMs(gateRun.timings));
  if (gateRun.result.task !== 'classification') {
    // The repository checks this at load time; a gate reloaded as another task meanwhile still cannot decide.
    throw new Error(`gate model "${gate.loaded.name}" answered ${gateRun.result.task}, not classification`);
  }
  const gateMs = performance.now() - decoded;
  const decision = gate.decide(gateRun.result, gateMs);
  const resizing = performance.now();
  const own = await contentFromImage(rgb, loaded.config.input);
  const decodeMs = decoded - started + (performance.now() - resizing);
  const run = await runModel(loaded, own, options);
  hooks.afterRun(serviceMs(run.timings));
  const seg = segmentation(loaded, bytes, info, run, options, {
    rgb: options.keepImage ? rgb : undefined,
    maxPixels,
    decodeMs,
    started,
  });
  seg.timings.gate = gateMs;
  seg.gate = decision;
  return seg;
}

function segmentation(
  loaded: LoadedVersion,
  bytes: Uint8Array,
  info: ImageInfo,
  run: RunResult & { result: SegmentationResult },
  options: SegmentOptions,
  decoded: { rgb?: RawImage; maxPixels: number; decodeMs: number; started: number },
): Segmentation {
  const { preprocess, queue, infer, postprocess } = run.timings;
  return {
    model: loaded.name,
    version: loaded.version,
    result: run.result,
    image: info,
    statistics: run.statistics,
    hash: run.hash,
    batchSize: run.batchSize,
    rgb: decoded.rgb,
    source: options.keepImage ? { kind: 'encoded', bytes, info, maxPixels: decoded.maxPixels } : undefined,
    timings: {
      decode: decoded.decodeMs,
      preprocess,
      queue,
      infer,
      postprocess,
      encode: 0,
      total: performance.now() - decoded.started,
    },
  };
}
