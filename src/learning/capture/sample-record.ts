/**
 * A kept prediction as the capture stores it: the image's bytes, the prediction as an encoded label document
 * (what an annotator starts from), and the fields of its `samples` row. The same record goes to the store, or
 * to the spool and back (its meta as JSON), so what an outage delays is stored exactly as it would have been.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IMAGE_FORMATS, type ImageFormat } from '../../image/index.js';
import type { PredictionCompleted } from '../../serving/events.js';
import type { MaskResult } from '../../tasks/types.js';
import { type Decision, STRATEGIES } from '../sampler/index.js';

/** The row's fields that come from the prediction (the rest is the stored keys and hashes). */
export const SampleMetaSchema = z
  .object({
    model: z.string().min(1),
    version: z.number().int().positive(),
    variant: z.string(),
    predictionId: z.string(),
    requestId: z.string().nullable(),
    source: z.string(),
    task: z.enum(['semantic', 'binary', 'instance']),
    strategy: z.enum(STRATEGIES),
    uncertainty: z.number().min(0).max(1),
    imageFormat: z.enum(IMAGE_FORMATS),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    /** Class names present (no background), so the annotation queue filters by class without the label. */
    classes: z.array(z.string()),
    /** Epoch milliseconds when the answer was done. */
    predictedAt: z.number(),
  })
  .strict();

export type SampleMeta = z.infer<typeof SampleMetaSchema>;

export interface SampleRecord {
  meta: SampleMeta;
  /** The image exactly as the client sent it. */
  image: Uint8Array;
  /** The prediction as label-document JSON (label-document.ts). */
  label: Uint8Array;
}

/**
 * What a kept prediction must carry to become a sample: the image and a result with masks, which only
 * segmentations of images have (a classification has no mask for an annotator to start from).
 */
export type Storable = PredictionCompleted &
  Required<Pick<PredictionCompleted, 'image' | 'imageBytes'>> & { result: MaskResult };

export function isStorable(event: PredictionCompleted): event is Storable {
  return (
    event.image !== undefined &&
    event.imageBytes !== undefined &&
    event.result !== undefined &&
    event.result.task !== 'classification'
  );
}

export function metaOf(event: Storable, decision: Decision): SampleMeta {
  const { summary, result } = event;
  const classes =
    summary.task === 'instance'
      ? [...new Set(summary.instances.map((instance) => instance.label))]
      : summary.task === 'tensors' || summary.task === 'classification'
        ? []
        : summary.classes.filter((area) => area.classId !== 0).map((area) => area.label);
  return {
    model: event.model,
    version: event.version,
    variant: event.variant,
    predictionId: event.predictionId,
    requestId: event.requestId ?? null,
    source: event.source,
    task: result.task,
    strategy: decision.strategy,
    uncertainty: decision.uncertainty,
    imageFormat: event.image.format,
    // The result's size is the label's (the image as oriented by its EXIF tag), which the annotator's mask
    // must match; event.image gives the same numbers.
    width: result.width,
    height: result.height,
    classes,
    predictedAt: event.at,
  };
}

/**
 * The sample's id: hex SHA-256 of "<model>\n<version>\n<image sha256>" (migration 2), so the same image kept
 * twice for one model version is one sample, and a replayed spool item lands on the row it may already have.
 */
export function sampleId(model: string, version: number, imageSha256: string): string {
  return createHash('sha256').update(`${model}\n${version}\n${imageSha256}`).digest('hex');
}

/** The content type of the stored image, which also names its key's extension (`image/jpeg`: `.jpg`). */
export function imageContentType(format: ImageFormat): string {
  return `image/${format}`;
}
