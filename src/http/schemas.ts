/**
 * JSON schemas of what the HTTP API answers and reads. Fastify serialises responses with them and
 * @fastify/swagger builds /openapi.json from them, so the document and the wire cannot drift apart.
 * Shared schemas are registered once by `$id` and appear as named components in the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE } from '../errors.js';
import { TASKS } from '../models/config.js';
import {
  MASK_FORMATS,
  MAX_POLYGON_TOLERANCE,
  type MaskFormat,
  type SegmentationJsonOptions,
} from '../serving/encode.js';

const number = { type: 'number' } as const;
const integer = { type: 'integer' } as const;
const string = { type: 'string' } as const;
const numbers = { type: 'array', items: number } as const;

/**
 * Boxes of /v1 answers, as COCO writes `bbox`: top-left corner and size. (The compatible /api/detect route answers
 * [x1, y1, x2, y2] instead; its schema says so where it is declared.)
 */
const BOX_XYWH = {
  type: 'array',
  items: number,
  minItems: 4,
  maxItems: 4,
  description:
    'Bounding box [x, y, width, height] in pixels of the input image as oriented by its EXIF orientation (the image.width x image.height space of this answer): x, y = top-left corner, like COCO bbox.',
} as const;

const rle = {
  $id: 'Rle',
  type: 'object',
  description: 'COCO compressed RLE, byte-compatible with pycocotools; size is [height, width].',
  required: ['size', 'counts'],
  properties: { size: { type: 'array', items: integer, minItems: 2, maxItems: 2 }, counts: string },
} as const;

const polygons = {
  $id: 'Polygons',
  type: 'array',
  description:
    'Outer rings as flat [x0, y0, x1, y1, ...] lists in pixels of the EXIF-oriented input image (pixel borders: pixel (c, r) spans [c, c+1) x [r, r+1)), with their holes.',
  items: {
    type: 'object',
    required: ['exterior', 'holes'],
    properties: { exterior: numbers, holes: { type: 'array', items: numbers } },
  },
} as const;

const timings = {
  $id: 'Timings',
  type: 'object',
  description: 'Milliseconds per pipeline stage.',
  required: ['decode', 'preprocess', 'queue', 'infer', 'postprocess', 'encode', 'total'],
  properties: {
    decode: number,
    gate: {
      ...number,
      description:
        "Models with a gate (pipeline.gate): the gate classifier's stage, from the decoded image to its decision.",
    },
    preprocess: number,
    queue: number,
    infer: number,
    postprocess: number,
    encode: number,
    total: number,
  },
} as const;

const segmentation = {
  $id: 'Segmentation',
  type: 'object',
  required: ['model', 'version', 'variant', 'task', 'image', 'uncertainty', 'timings'],
  properties: {
    model: string,
    version: integer,
    variant: {
      ...string,
      description:
        "The traffic variant that answered: its name in the endpoint's traffic policy, or `default` for a request to a model.",
    },
    task: { type: 'string', enum: TASKS },
    image: {
      type: 'object',
      required: ['width', 'height', 'format'],
      properties: { width: integer, height: integer, format: string },
    },
    instances: {
      type: 'array',
      description: 'Instance models: one entry per detected object, most confident first.',
      items: {
        type: 'object',
        required: ['label', 'class_id', 'score', 'box', 'area', 'margin'],
        properties: {
          label: string,
          class_id: integer,
          score: number,
          box: BOX_XYWH,
          area: integer,
          margin: { ...number, description: 'Best class score minus the second best.' },
          mask: { $ref: 'Rle#' },
          polygons: { $ref: 'Polygons#' },
        },
      },
    },
    labels: { type: 'array', items: string, description: 'Semantic and binary models: labels by class id.' },
    classes: {
      type: 'array',
      description:
        'Semantic and binary models: every class present, background left out, with its area (and mask). Classification models: the top_k best classes, best first, with their score.',
      items: {
        type: 'object',
        required: ['class_id', 'label'],
        properties: {
          class_id: integer,
          label: string,
          area: { ...integer, description: 'Semantic and binary models: pixels of the class.' },
          score: { ...number, description: 'Classification models: the probability of the class.' },
          mask: { $ref: 'Rle#' },
          polygons: { $ref: 'Polygons#' },
        },
      },
    },
    gate: {
      type: 'object',
      description:
        'Models with a gate (pipeline.gate): the gate classifier that let the image through, the accepted label and its score.',
      required: ['model', 'version', 'label', 'score'],
      properties: { model: string, version: integer, label: string, score: number },
    },
    mask_png: {
      type: 'string',
      contentEncoding: 'base64',
      description:
        'mask_format=png: the mask PNG in base64 (class ids, or instance numbers 1..N in answer order).',
    },
    uncertainty: {
      anyOf: [
        {
          type: 'object',
          required: ['kind', 'meanEntropy', 'maxEntropy', 'uncertainShare'],
          properties: {
            kind: { type: 'string', enum: ['pixel-entropy'] },
            meanEntropy: number,
            maxEntropy: number,
            uncertainShare: number,
          },
        },
        {
          type: 'object',
          required: ['kind', 'count', 'meanScore', 'minScore', 'maxScore', 'minMargin', 'meanMargin'],
          properties: {
            kind: { type: 'string', enum: ['instance-scores'] },
            count: integer,
            meanScore: number,
            minScore: number,
            maxScore: number,
            minMargin: number,
            meanMargin: number,
            nearThresholdShare: number,
          },
        },
        {
          type: 'object',
          description:
            'Classification models: entropy of the class scores / ln C, the best score, and best minus second best.',
          required: ['kind', 'entropy', 'topScore', 'margin'],
          properties: {
            kind: { type: 'string', enum: ['class-scores'] },
            entropy: number,
            topScore: number,
            margin: number,
          },
        },
      ],
    },
    timings: { $ref: 'Timings#' },
  },
} as const;

const errorBody = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CATALOGUE) },
        message: string,
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

const versionStatus = {
  type: 'object',
  required: ['version', 'state'],
  properties: {
    version: integer,
    state: { type: 'string', enum: ['ready', 'loading', 'failed'] },
    error: { type: 'object', properties: { code: string, message: string } },
  },
} as const;

const model = {
  $id: 'Model',
  type: 'object',
  required: ['name', 'state', 'versions'],
  properties: {
    name: string,
    state: { type: 'string', enum: ['ready', 'loading', 'failed'] },
    task: { type: 'string', enum: TASKS },
    decoder: string,
    labels: { type: 'array', items: string },
    input: {
      type: 'object',
      description:
        'What the model reads: tensor name, size, resize mode, layout, colour order, normalisation.',
      properties: {
        name: string,
        width: integer,
        height: integer,
        resize: string,
        pad_value: number,
        layout: string,
        color: string,
        scale: number,
        mean: numbers,
        std: numbers,
        shrink_on_load: {
          type: 'boolean',
          description:
            "Photos at least twice the input are reduced by libvips' shrink-on-load, not OpenCV's bilinear.",
        },
      },
    },
    gate: {
      type: 'object',
      description:
        'pipeline.gate: the classification model that must accept each image before this one segments it.',
      required: ['model', 'accept', 'min_score'],
      properties: {
        model: string,
        version: {
          anyOf: [integer, string],
          description: 'A version number or an alias; absent: the stable alias, else the newest version.',
        },
        accept: { type: 'array', items: string },
        min_score: number,
      },
    },
    versions: { type: 'array', items: versionStatus },
    error: { type: 'object', properties: { code: string, message: string } },
  },
} as const;

const SHARED_SCHEMAS = [rle, polygons, timings, segmentation, errorBody, model] as const;

export function addSharedSchemas(app: FastifyInstance): void {
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
}

export const ref = (id: (typeof SHARED_SCHEMAS)[number]['$id']) => ({ $ref: `${id}#` }) as const;

/** Every route answers errors in the one shape. */
export const errorResponses = { '4xx': ref('Error'), '5xx': ref('Error') } as const;

export const binaryPng = {
  description: 'A PNG image.',
  content: { 'image/png': { schema: { type: 'string', format: 'binary' } } },
} as const;

/** Versions are written in plain decimal: `02`, `0x2`, `1e3` or ` 2` are refused, not read as 2. */
export const VERSION_PARAM = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,8}$',
  description: 'Model version, a positive integer (default: the newest ready one).',
} as const;

export const MODEL_QUERY = {
  model: {
    type: 'string',
    minLength: 1,
    maxLength: 128,
    description: 'Model name (default: the server default).',
  },
  version: VERSION_PARAM,
} as const;

export const MASK_FORMAT_QUERY = {
  mask_format: {
    type: 'string',
    enum: MASK_FORMATS,
    default: 'rle',
    description: 'How JSON answers carry masks: COCO RLE, polygons, one base64 PNG, or none.',
  },
  polygon_tolerance: {
    type: 'number',
    minimum: 0,
    maximum: MAX_POLYGON_TOLERANCE,
    default: 0,
    description:
      'mask_format=polygon: simplify each ring (Douglas-Peucker) so no pixel-outline corner is farther than this many pixels from it. 0 (default) keeps the exact pixel outline; 1-2 cut the points several times over with little change in area.',
  },
} as const;

/** The query fields MASK_FORMAT_QUERY declares, as routes receive them (defaults applied by Fastify). */
export interface MaskFormatQuery {
  mask_format: MaskFormat;
  polygon_tolerance?: number;
}

/** What toSegmentationJson / sendSegmentation take, from a route's query. */
export function segmentationJsonOptions(query: MaskFormatQuery): SegmentationJsonOptions {
  return { maskFormat: query.mask_format, polygonTolerance: query.polygon_tolerance ?? 0 };
}
