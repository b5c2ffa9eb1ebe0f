import { z } from 'zod';

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

export const TASKS = ['instance', 'semantic', 'binary'] as const;
export const DECODERS = ['yolo-seg', 'rcnn', 'softmax', 'sigmoid', 'sigmoid-multilabel'] as const;

const decoderTask: Record<(typeof DECODERS)[number], readonly (typeof TASKS)[number][]> = {
  'yolo-seg': ['instance'],
  rcnn: ['instance'],
  softmax: ['semantic', 'binary'],
  sigmoid: ['binary'],
  'sigmoid-multilabel': ['semantic'],
};

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
    scale: z.number().positive().default(1 / 255),
    mean: triple.default([0, 0, 0]),
    std: triple.refine((s) => s.every((v) => v !== 0), 'std must not contain 0').default([1, 1, 1]),
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

export const VersionPolicySchema = z.union([
  z.object({ latest: positiveInt.default(1) }).strict(),
  z.object({ specific: z.array(positiveInt).min(1) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

export const ModelConfigSchema = z
  .object({
    /** Defaults to the model's folder name. */
    name: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64')
      .optional(),
    description: z.string().optional(),
    task: z.enum(TASKS),
    decoder: z.enum(DECODERS),
    input: InputConfigSchema,
    output: OutputConfigSchema.default({ names: {}, layout: 'NCHW', activation: 'applied' }),
    thresholds: ThresholdsSchema.default({ score: 0.25, nms_iou: 0.45, mask: 0.5 }),
    max_detections: positiveInt.max(1000).default(100),
    /** Class names by index; otherwise read from `labels_file` (default `labels.txt` beside config.yaml). */
    labels: z.array(z.string()).min(1).optional(),
    labels_file: z.string().min(1).optional(),
    /**
     * Explicit ONNX files per version, for models kept outside the repository. Paths are relative to the model
     * folder and may use ${VAR} or ${VAR:-default} environment references. Versions without an entry are
     * found as `<version>/model.onnx`.
     */
    versions: z.record(z.string().regex(/^[1-9][0-9]*$/, 'version numbers are positive integers'), z.string()).default({}),
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
    /** Dynamic batching; rarely pays on CPU, so off unless asked for. */
    batching: z
      .object({
        enabled: z.boolean().default(false),
        max_batch: positiveInt.max(256).default(4),
        max_delay_ms: z.number().min(0).max(1000).default(5),
      })
      .strict()
      .default({ enabled: false, max_batch: 4, max_delay_ms: 5 }),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!decoderTask[config.decoder].includes(config.task)) {
      ctx.addIssue({
        code: 'custom',
        path: ['decoder'],
        message: `decoder "${config.decoder}" serves task ${decoderTask[config.decoder].join(' or ')}, not "${config.task}"`,
      });
    }
    if (config.labels && config.labels_file) {
      ctx.addIssue({ code: 'custom', path: ['labels_file'], message: 'give labels or labels_file, not both' });
    }
  });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type InputConfig = z.infer<typeof InputConfigSchema>;
export type OutputConfig = z.infer<typeof OutputConfigSchema>;
export type Thresholds = z.infer<typeof ThresholdsSchema>;
export type VersionPolicy = z.infer<typeof VersionPolicySchema>;
export type Task = (typeof TASKS)[number];
export type DecoderName = (typeof DECODERS)[number];

/** One problem in a config file, with the dotted path of the field (e.g. `input.mean.2`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export type ConfigParseResult = { ok: true; config: ModelConfig } | { ok: false; issues: ConfigIssue[] };

/** Validates an already-parsed YAML document; reports every bad field with its path. */
export function parseModelConfig(document: unknown): ConfigParseResult {
  const result = ModelConfigSchema.safeParse(document);
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({
      path: issue.path.length > 0 ? issue.path.join('.') : '(root)',
      message: issue.message,
    })),
  };
}
