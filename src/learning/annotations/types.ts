/**
 * What the annotation queue answers over HTTP, typed once here and read by the browser's annotate page too
 * (web/src imports these types), so the API and the page cannot drift apart.
 */

export type SampleState = 'queued' | 'labelled' | 'rejected';
export type SampleTask = 'semantic' | 'binary' | 'instance';
export type SubmittedAs = 'accepted' | 'png' | 'rle' | 'polygons';

export interface AnnotationItemJson {
  id: string;
  model: string;
  version: number;
  variant: string;
  task: SampleTask;
  /** The sampling strategy that kept it (entropy, top_k, random, drift_capture...). */
  strategy: string;
  /** Mean normalised pixel entropy, or 1 - score margin for instance models: 0 (sure) to 1. */
  uncertainty: number;
  /** The queue's sort key: the uncertainty less 0.05 for every skip (see SKIP_PENALTY). */
  priority: number;
  image: { width: number; height: number; format: string; sha256: string };
  /** Classes present in the prediction. */
  classes: string[];
  /** The route or client that made the prediction. */
  source: string;
  predicted_at: string;
  created_at: string;
  state: SampleState;
  skip_count: number;
  /** The live claim; null when nobody holds it (an expired claim is no claim). */
  claim: { annotator: string; expires_at: string } | null;
  label: {
    submitted_as: SubmittedAs;
    labelled_by: string | null;
    labelled_at: string;
    sha256: string;
  } | null;
}

export interface AnnotationListJson {
  items: AnnotationItemJson[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** The item claim-next claimed, or null when no unclaimed queued item matches. */
export interface ClaimNextJson {
  item: AnnotationItemJson | null;
}

export interface AnnotationSummaryJson {
  model: string;
  /** Items waiting for a label, claimed or not: what is left of the queue. */
  queued: number;
  /** Queued items under a live claim. */
  claimed: number;
  /** Queued items nobody holds: what claim-next can hand out. */
  available: number;
  labelled: number;
  rejected: number;
}

/** A class by name or by id (an index into the model's labels); both may be given if they agree. */
export interface ClassRefJson {
  label?: string;
  class_id?: number;
}

export interface LabelSegmentJson extends ClassRefJson {
  /** format rle: COCO RLE, compressed (a string) or not; size is [height, width]. */
  rle?: { size: [number, number]; counts: string | number[] };
  /** format polygons: flat [x0, y0, x1, y1, ...] rings in pixel-border coordinates. */
  polygons?: number[][];
}

/** The body of POST /v1/annotations/{id}/label. */
export interface LabelBodyJson {
  annotator?: string;
  format: 'accept' | 'png' | 'rle' | 'polygons';
  /** format png: the mask PNG in base64. */
  mask_png?: string;
  /** format png, instance models: the class of pixel value i + 1 at position i. */
  instances?: ClassRefJson[];
  segments?: LabelSegmentJson[];
}
