import { z } from 'zod';
import { EvaluationConfigSchema, metricTaskMismatch } from './evaluation-config.js';
import { RetrainingConfigSchema } from './retraining-config.js';
import { SamplingConfigSchema } from './sampling-config.js';

/**
 * The one schema of a model's `config.yaml`. Keys are snake_case in YAML; the parsed object keeps them,
 * so what a user reads in the file is what the code reads. Defaults make a minimal file short:
 *
 *   task: semantic
 *   decoder: softmax
 *   input: { width: 512, height: 512 }
 */
const positiveInt = z.number().int().positive();
const triple = z.tuple([z.number(), z.number(), z.number()]);

export const TASKS = ['instance', 'semantic', 'binary', 'classification'] as const;
export const DECODERS = [
  'yolo-seg',
  'rcnn',
  'softmax',
  'sigmoid',
  'sigmoid-multilabel',
  'softmax-classifier',
] as const;

const decoderTask: Record<(typeof DECODERS)[number], readonly (typeof TASKS)[number][]> = {
  'yolo-seg': ['instance'],
  rcnn: ['instance'],
  softmax: ['semantic', 'binary'],
  sigmoid: ['binary'],
  'sigmoid-multilabel': ['semantic'],
  'softmax-classifier': ['classification'],
};

function decoderTaskMismatch(
  task: (typeof TASKS)[number],
  decoder: (typeof DECODERS)[number],
): string | undefined {
  if (decoderTask[decoder].includes(task)) return undefined;
  return `decoder "${decoder}" serves task ${decoderTask[decoder].join(' or ')}, not "${task}"`;
}

/**
 * Dynamic batching: requests for one loaded version that arrive within `max_delay_ms` of the first one waiting
 * run as one `session.run` of up to `max_batch_size` images. Off by default: on 2 CPU cores a batch of N costs
 * about N single runs, so it mostly adds the delay (see the README's measurements). Only for models whose input
 * and outputs have a dynamic batch dimension; the version refuses to load otherwise.
 */
export const BatchingConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    max_batch_size: z.number().int().min(2).max(64).default(8),
    /** How long the first request of a batch may wait for others; 0 batches only what is already queued. */
    max_delay_ms: z.number().min(0).max(1000).default(2),
  })
  .strict();

export type BatchingConfig = z.infer<typeof BatchingConfigSchema>;

export const InputConfigSchema = z
  .object({
    /** Input tensor name; defaults to the model's first input. */
    name: z.string().min(1).optional(),
    width: positiveInt.max(8192),
    height: positiveInt.max(8192),
    resize: z.enum(['letterbox', 'stretch']).default('stretch'),
    /** Grey level (0..255, before normalisation) of letterbox padding. */
    pad_value: z.number().min(0).max(255).default(114),
    layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
    color: z.enum(['RGB', 'BGR']).default('RGB'),
    /** value = (pixel * scale - mean[c]) / std[c], per channel in `color` order. */
    scale: z
      .number()
      .positive()
      .default(1 / 255),
    mean: triple.default([0, 0, 0]),
    std: triple.refine((s) => s.every((v) => v !== 0), 'std must not contain 0').default([1, 1, 1]),
    /**
     * Let libvips reduce images at least twice the content size (see src/image/resample.ts): JPEG and WebP are
     * then decoded at a fraction of their size. Faster on camera-size photos; the pixels are no longer OpenCV's
     * bilinear, so measure the model's quality with it before turning it on (`npx tsx bench/shrink-on-load.ts`).
     */
    shrink_on_load: z.boolean().default(false),
  })
  .strict();

export const OutputConfigSchema = z
  .object({
    /**
     * Output tensor names the decoder reads, by role. Roles per decoder:
     * yolo-seg: detections, protos; rcnn: boxes, labels, scores, masks; softmax/sigmoid/sigmoid-multilabel: scores.
     * Unnamed roles take the model's outputs in order.
     */
    names: z.record(z.string(), z.string().min(1)).default({}),
    /** Layout of a dense score map (semantic/binary decoders). */
    layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
    /** Whether the model already applies its final activation (softmax/sigmoid) or emits logits. */
    activation: z.enum(['applied', 'logits']).default('applied'),
  })
  .strict();

export const ThresholdsSchema = z
  .object({
    score: z.number().min(0).max(1).default(0.25),
    nms_iou: z.number().min(0).max(1).default(0.45),
    mask: z.number().min(0).max(1).default(0.5),
  })
  .strict();

const versionPolicyForms = {
  latest: z.object({ latest: positiveInt.default(1) }).strict(),
  specific: z.object({ specific: z.array(positiveInt).min(1) }).strict(),
  all: z.object({ all: z.literal(true) }).strict(),
};

export const VersionPolicySchema = z.union(
  [versionPolicyForms.latest, versionPolicyForms.specific, versionPolicyForms.all],
  { error: 'expected {latest: N}, {specific: [N, ...]} or {all: true}' },
);

/**
 * Drift monitoring (src/monitoring/drift): the first `reference_size` predictions after a version loads, or a
 * `baseline` file written by `segserve monitor baseline`, are compared with the last `window` predictions by
 * the Population Stability Index of each signal; the largest crossing `threshold` reports drift. Without
 * either `reference_size` or `baseline` the reference is the first 200 predictions (DEFAULT_DRIFT_REFERENCE_SIZE).
 */
export const DEFAULT_DRIFT_REFERENCE_SIZE = 200;

const driftDefaults = { enabled: true, window: 200, threshold: 0.25 } as const;

export const DriftConfigSchema = z
  .object({
    enabled: z.boolean().default(driftDefaults.enabled),
    // Below 20 predictions a quantile bin holds a handful of values and PSI is mostly noise (see monitor.ts).
    reference_size: z.number().int().min(20).max(100_000).optional(),
    /** JSON file from `segserve monitor baseline`, relative to the model folder; replaces `reference_size`. */
    baseline: z.string().min(1).optional(),
    window: z.number().int().min(20).max(100_000).default(driftDefaults.window),
    /** PSI at or above which drift is reported (0.1 "moderate", 0.25 "significant" by the usual rule of thumb). */
    threshold: z.number().positive().max(10).default(driftDefaults.threshold),
    /** Quantile bins per numeric signal; default from the sample sizes (see driftBins in monitoring/drift). */
    bins: z.number().int().min(2).max(50).optional(),
  })
  .strict();

const DRIFT_EXCLUSIVE = 'give reference_size or baseline, not both';

/** Model names, as `name` and the gate's `model` write them. */
/** Model (and endpoint) names, wherever one is given: config, upload, traffic policy. */
export const MODEL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
export const MODEL_NAME_RULE = 'letters, digits, ".", "_" and "-", at most 64';
/** Alias names start with a letter, so they can never be read as a version number. */
export const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** The gate's default `min_score`: the accepted label must be at least as likely as all the others together. */
export const DEFAULT_GATE_MIN_SCORE = 0.5;

/**
 * A gate stage: a classification model that sees each image first. The image is segmented only when the
 * probability of one of the `accept` labels is at least `min_score`; otherwise the request is refused
 * (GATE_REFUSED) with the classifier's answer. Which versions serve it: `version` (a number or an alias), else
 * the gate model's `stable` alias, else its newest ready version.
 */
export const GateConfigSchema = z
  .object({
    model: z.string().regex(MODEL_NAME, MODEL_NAME_RULE),
    version: z
      .union([positiveInt, z.string().regex(ALIAS_NAME)], {
        error: 'a version number (1, 2...) or an alias name (stable, canary...)',
      })
      .optional(),
    accept: z
      .array(z.string().min(1, 'a label is not empty'))
      .min(1, 'name at least one label of the gate model that lets an image through'),
    min_score: z.number().min(0).max(1).default(DEFAULT_GATE_MIN_SCORE),
  })
  .strict();

/** Stages that run around the model; only a gate so far. */
export const PipelineConfigSchema = z.object({ gate: GateConfigSchema }).strict();

/**
 * Every model is drift-monitored unless its config says `enabled: false`: the input signals are read by the
 * runtime from the pixels it fills the tensor with, and the rest is a few numbers per prediction (the cost is
 * measured by `npm run bench`, monitoring on against off).
 */
export const MonitoringConfigSchema = z.object({ drift: DriftConfigSchema.default(driftDefaults) }).strict();

export const ModelConfigSchema = z
  .object({
    /** Defaults to the model's folder name. */
    name: z.string().regex(MODEL_NAME, MODEL_NAME_RULE).optional(),
    description: z.string().optional(),
    task: z.enum(TASKS),
    decoder: z.enum(DECODERS),
    input: InputConfigSchema,
    output: OutputConfigSchema.default({ names: {}, layout: 'NCHW', activation: 'applied' }),
    thresholds: ThresholdsSchema.default({ score: 0.25, nms_iou: 0.45, mask: 0.5 }),
    max_detections: positiveInt.max(1000).default(100),
    /** Classification models: how many of the best classes an answer lists (default 5, DEFAULT_TOP_K in tasks). */
    top_k: positiveInt.max(1000).optional(),
    /** A gate classifier that must accept an image before this model segments it (see GateConfigSchema). */
    pipeline: PipelineConfigSchema.optional(),
    /** Class names by index; otherwise read from `labels_file` (default `labels.txt` beside config.yaml). */
    labels: z.array(z.string()).min(1).optional(),
    labels_file: z.string().min(1).optional(),
    /**
     * Explicit ONNX files per version, for models kept outside the repository. Paths are relative to the model
     * folder and may use ${VAR} or ${VAR:-default} environment references. Versions without an entry are
     * found as `<version>/model.onnx`.
     */
    versions: z
      .record(z.string().regex(/^[1-9][0-9]*$/, 'version numbers are positive integers'), z.string())
      .default({}),
    version_policy: VersionPolicySchema.default({ latest: 1 }),
    /** Worker threads (each with its own session) per loaded version. */
    instances: positiveInt.max(64).default(1),
    threads: z
      .object({ intra_op: positiveInt.max(256).default(1), inter_op: positiveInt.max(256).default(1) })
      .strict()
      .default({ intra_op: 1, inter_op: 1 }),
    execution_provider: z.enum(['cpu', 'cuda']).default('cpu'),
    /** Requests allowed to wait per loaded version before new ones are refused. */
    max_queue: positiveInt.max(100_000).default(64),
    /** Images whose header declares more pixels than this are refused before decoding. */
    max_pixels: positiveInt.default(40_000_000),
    /** Dynamic batching (see BatchingConfigSchema); off unless `enabled: true`. */
    batching: BatchingConfigSchema.default({ enabled: false, max_batch_size: 8, max_delay_ms: 2 }),
    monitoring: MonitoringConfigSchema.default({ drift: driftDefaults }),
    /** Active learning: which predictions to keep for labelling (see sampling-config.ts); none without it. */
    sampling: SamplingConfigSchema.optional(),
    /** Active learning: when to snapshot the dataset and call retraining hooks (see retraining-config.ts). */
    retraining: RetrainingConfigSchema.optional(),
    /** Lifecycle: the dataset and metric of the promotion gate (see evaluation-config.ts); none without it. */
    evaluation: EvaluationConfigSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const drift = config.monitoring.drift;
    if (drift.baseline !== undefined && drift.reference_size !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['monitoring', 'drift', 'baseline'], message: DRIFT_EXCLUSIVE });
    }
    const mismatch = decoderTaskMismatch(config.task, config.decoder);
    if (mismatch) ctx.addIssue({ code: 'custom', path: ['decoder'], message: mismatch });
    const metric = metricTaskMismatch(config.task, config.evaluation?.metric);
    if (metric && config.task !== 'classification')
      ctx.addIssue({ code: 'custom', path: ['evaluation', 'metric'], message: metric });
    for (const issue of classificationIssues(config)) ctx.addIssue({ code: 'custom', ...issue });
    if (config.labels && config.labels_file) {
      ctx.addIssue({
        code: 'custom',
        path: ['labels_file'],
        message: 'give labels or labels_file, not both',
      });
    }
  });

/**
 * What a classification model cannot have, and `top_k` on the other tasks. Sampling, retraining and evaluation
 * work on masks (the annotation queue, mask datasets, mIoU and AP); a classifier cannot itself be gated, which
 * keeps gates one classifier deep (no chains, no cycles).
 */
function classificationIssues(config: {
  name?: string;
  task: Task;
  top_k?: number;
  pipeline?: { gate: { model: string; accept: string[] } };
  sampling?: unknown;
  retraining?: unknown;
  evaluation?: unknown;
}): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (config.task !== 'classification') {
    if (config.top_k !== undefined)
      issues.push({ path: ['top_k'], message: 'top_k applies to classification models only' });
  } else {
    for (const key of ['sampling', 'retraining', 'evaluation'] as const) {
      if (config[key] !== undefined) {
        issues.push({
          path: [key],
          message: `${key} works on masks and does not apply to classification models`,
        });
      }
    }
    if (config.pipeline !== undefined) {
      issues.push({
        path: ['pipeline'],
        message: 'a classification model cannot itself have a gate (gates are one classifier deep)',
      });
    }
  }
  const gate = config.pipeline?.gate;
  if (gate && config.name !== undefined && gate.model === config.name) {
    issues.push({ path: ['pipeline', 'gate', 'model'], message: 'a model cannot be its own gate' });
  }
  const twice = gate?.accept.find((label, i) => gate.accept.indexOf(label) !== i);
  if (twice !== undefined) {
    issues.push({ path: ['pipeline', 'gate', 'accept'], message: `label "${twice}" is listed twice` });
  }
  return issues;
}

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type GateConfig = z.infer<typeof GateConfigSchema>;
export type InputConfig = z.infer<typeof InputConfigSchema>;
export type OutputConfig = z.infer<typeof OutputConfigSchema>;
export type Thresholds = z.infer<typeof ThresholdsSchema>;
export type DriftConfig = z.infer<typeof DriftConfigSchema>;
export type VersionPolicy = z.infer<typeof VersionPolicySchema>;
export type Task = (typeof TASKS)[number];
export type DecoderName = (typeof DECODERS)[number];

/** One problem in a config file, with the dotted path of the field (e.g. `input.mean.2`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export type ConfigParseResult = { ok: true; config: ModelConfig } | { ok: false; issues: ConfigIssue[] };

function joinPath(path: readonly PropertyKey[]): string {
  return path.length > 0 ? path.map(String).join('.') : '(root)';
}

/** One zod issue as the issues a person should read: an unknown key at its own path, a bad record key with the key's own rule. */
function toConfigIssues(issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: joinPath([...path, key]), message: 'unknown field' }));
    case 'invalid_key':
      return [{ path: joinPath(path), message: issue.issues.map((i) => i.message).join('; ') }];
    default:
      return [{ path: joinPath(path), message: issue.message }];
  }
}

/**
 * zod skips refinements once a field has the wrong type, so a config with a bad field and a decoder that does
 * not fit its task would report only the first; the decoder check is repeated on the raw document.
 */
function rawDecoderIssue(document: unknown): ConfigIssue | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const { task, decoder } = document as Record<string, unknown>;
  const validTask = TASKS.find((t) => t === task);
  const validDecoder = DECODERS.find((d) => d === decoder);
  if (!validTask || !validDecoder) return undefined;
  const mismatch = decoderTaskMismatch(validTask, validDecoder);
  return mismatch ? { path: 'decoder', message: mismatch } : undefined;
}

/**
 * zod answers a union with the first form whose problems are not fatal, so `{all: false}` would read as
 * "version_policy.all: unknown field". The form is picked by its key instead and its own problems reported.
 */
function rawVersionPolicyIssues(document: unknown): ConfigIssue[] | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const policy = (document as Record<string, unknown>).version_policy;
  if (typeof policy !== 'object' || policy === null) return undefined;
  const form = (['latest', 'specific', 'all'] as const).find((key) => Object.hasOwn(policy, key));
  if (!form) return undefined;
  const result = versionPolicyForms[form].safeParse(policy);
  return result.success
    ? []
    : result.error.issues.flatMap((issue) => toConfigIssues(issue, ['version_policy']));
}

/** The exclusivity of `baseline` and `reference_size`, checked on the raw document for the same reason. */
function rawDriftIssue(document: unknown): ConfigIssue | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const monitoring = (document as Record<string, unknown>).monitoring;
  if (typeof monitoring !== 'object' || monitoring === null) return undefined;
  const drift = (monitoring as Record<string, unknown>).drift;
  if (typeof drift !== 'object' || drift === null) return undefined;
  return Object.hasOwn(drift, 'baseline') && Object.hasOwn(drift, 'reference_size')
    ? { path: 'monitoring.drift.baseline', message: DRIFT_EXCLUSIVE }
    : undefined;
}

const isVersionPolicyIssue = (issue: ConfigIssue) =>
  issue.path === 'version_policy' || issue.path.startsWith('version_policy.');

/** Validates an already-parsed YAML document; reports every bad field with its path. */
export function parseModelConfig(document: unknown): ConfigParseResult {
  const result = ModelConfigSchema.safeParse(document);
  if (result.success) return { ok: true, config: result.data };
  let issues = result.error.issues.flatMap((issue) => toConfigIssues(issue));
  const policyIssues = rawVersionPolicyIssues(document);
  if (policyIssues && issues.some(isVersionPolicyIssue)) {
    issues = [...issues.filter((i) => !isVersionPolicyIssue(i)), ...policyIssues];
  }
  const decoderIssue = rawDecoderIssue(document);
  if (decoderIssue && !issues.some((i) => i.path === 'decoder')) issues.push(decoderIssue);
  const driftIssue = rawDriftIssue(document);
  if (driftIssue && !issues.some((i) => i.path === driftIssue.path)) issues.push(driftIssue);
  return { ok: false, issues };
}
