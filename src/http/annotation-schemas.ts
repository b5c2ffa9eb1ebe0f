/**
 * JSON schemas of the annotation queue's routes (routes/annotations.ts): what they answer, typed against the
 * wire types of src/learning/annotations/types.ts by the route handlers' return types, and documented in
 * /openapi.json from here.
 */
import { SKIP_PENALTY } from '../learning/annotations/index.js';
import { ref } from './schemas.js';

const string = { type: 'string' } as const;
const integer = { type: 'integer' } as const;
const number = { type: 'number' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const task = { type: 'string', enum: ['semantic', 'binary', 'instance'] } as const;

export const SAMPLE_ID = {
  type: 'string',
  pattern: '^[0-9a-f]{64}$',
  description: 'The item id: hex SHA-256 of model, version and image hash, as the sink names samples.',
} as const;

export const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: SAMPLE_ID } } as const;

/** A person's name or id, as the claim records it: any printable text up to 128 characters. */
export const ANNOTATOR = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
  description:
    'Who acts: any id or name up to 128 printable characters. May come instead in the X-Annotator header; ' +
    'one of the two is required, and they must agree when both are given.',
} as const;

export const ANNOTATOR_BODY = {
  type: 'object',
  properties: { annotator: ANNOTATOR },
  description: 'Optional when the X-Annotator header names the annotator.',
} as const;

export const ANNOTATION_ITEM = {
  type: 'object',
  required: [
    'id',
    'model',
    'version',
    'variant',
    'task',
    'strategy',
    'uncertainty',
    'priority',
    'image',
    'classes',
    'source',
    'predicted_at',
    'created_at',
    'state',
    'skip_count',
    'claim',
    'label',
  ],
  properties: {
    id: SAMPLE_ID,
    model: string,
    version: integer,
    variant: string,
    task,
    strategy: { ...string, description: 'The sampling strategy that kept it.' },
    uncertainty: {
      ...number,
      description:
        'Mean normalised pixel entropy, or 1 - score margin for instance models (0 sure, 1 unsure).',
    },
    priority: {
      ...number,
      description: `The queue's sort key, highest first: the uncertainty less ${SKIP_PENALTY} per skip.`,
    },
    image: {
      type: 'object',
      required: ['width', 'height', 'format', 'sha256'],
      properties: { width: integer, height: integer, format: string, sha256: string },
    },
    classes: { type: 'array', items: string, description: 'Classes present in the prediction.' },
    source: string,
    predicted_at: dateTime,
    created_at: dateTime,
    state: { type: 'string', enum: ['queued', 'labelled', 'rejected'] },
    skip_count: integer,
    claim: {
      type: 'object',
      nullable: true,
      description: 'The live claim; null when nobody holds the item (an expired claim is none).',
      required: ['annotator', 'expires_at'],
      properties: { annotator: string, expires_at: dateTime },
    },
    label: {
      type: 'object',
      nullable: true,
      required: ['submitted_as', 'labelled_by', 'labelled_at', 'sha256'],
      properties: {
        submitted_as: { type: 'string', enum: ['accepted', 'png', 'rle', 'polygons'] },
        labelled_by: { type: 'string', nullable: true },
        labelled_at: dateTime,
        sha256: { ...string, description: 'SHA-256 of the stored label document.' },
      },
    },
  },
} as const;

export const LABEL_DOCUMENT = {
  type: 'object',
  description:
    'A label document (format segserve-label): semantic and binary labels have one segment per class present ' +
    'other than background (0), disjoint; instance labels one segment per instance. Masks are COCO RLE.',
  required: ['format', 'format_version', 'task', 'width', 'height', 'labels', 'segments'],
  properties: {
    format: { type: 'string', enum: ['segserve-label'] },
    format_version: { type: 'integer', enum: [1] },
    task,
    width: integer,
    height: integer,
    labels: { type: 'array', items: string, description: 'Class names by class id.' },
    segments: {
      type: 'array',
      items: {
        type: 'object',
        required: ['class_id', 'rle'],
        properties: {
          class_id: integer,
          rle: ref('Rle'),
          score: { ...number, description: "The model's score, on a prediction's instances only." },
        },
      },
    },
  },
} as const;

const CLASS_REF = {
  label: { ...string, description: 'The class by name.' },
  class_id: { ...integer, minimum: 0, description: 'The class by id (an index into the model labels).' },
} as const;

export const LABEL_BODY = {
  type: 'object',
  required: ['format'],
  description:
    'format accept: the prediction as it is. png: mask_png, a greyscale or indexed PNG of the image size ' +
    'whose pixel values are class ids (0 and 255 also read as 0 and 1 for binary models); for instance models ' +
    'the values are instance numbers 1..N and `instances` gives their classes in order. rle: `segments` with ' +
    'COCO RLE masks. polygons: `segments` with COCO polygons. Each segment or instance names its class by ' +
    'label or class_id. Semantic and binary segments must not overlap and cannot be the background class 0.',
  properties: {
    annotator: ANNOTATOR,
    format: { type: 'string', enum: ['accept', 'png', 'rle', 'polygons'] },
    mask_png: { ...string, contentEncoding: 'base64', description: 'format png: the mask PNG, base64.' },
    instances: {
      type: 'array',
      maxItems: 255,
      description: 'format png, instance models: the class of pixel value i + 1 at position i.',
      items: { type: 'object', properties: CLASS_REF },
    },
    segments: {
      type: 'array',
      maxItems: 10_000,
      description: 'format rle or polygons: one entry per class region (semantic) or per instance.',
      items: {
        type: 'object',
        properties: {
          ...CLASS_REF,
          rle: {
            type: 'object',
            required: ['size', 'counts'],
            description: 'format rle: COCO RLE, compressed (a string, as pycocotools writes) or not.',
            properties: {
              size: {
                type: 'array',
                items: integer,
                minItems: 2,
                maxItems: 2,
                description: '[height, width]',
              },
              counts: { anyOf: [string, { type: 'array', items: { type: 'integer', minimum: 0 } }] },
            },
          },
          polygons: {
            type: 'array',
            description:
              'format polygons: flat [x0, y0, x1, y1, ...] rings in pixel-border coordinates (0..width, ' +
              '0..height); a pixel is in when its centre is, and the rings are united.',
            items: { type: 'array', items: number },
          },
        },
      },
    },
  },
} as const;

export const SUMMARY = {
  type: 'object',
  required: ['model', 'queued', 'claimed', 'available', 'labelled', 'rejected'],
  properties: {
    model: string,
    queued: { ...integer, description: 'Items waiting for a label, claimed or not.' },
    claimed: { ...integer, description: 'Queued items under a live claim.' },
    available: { ...integer, description: 'Queued items nobody holds: what claim-next hands out.' },
    labelled: integer,
    rejected: integer,
  },
} as const;
