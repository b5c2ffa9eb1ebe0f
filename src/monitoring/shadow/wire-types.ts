/**
 * The shadow traffic API's answers (`GET /v1/shadows`, `GET /v1/endpoints/{name}/shadows`), shared with the web
 * UI's shadow page so that it keeps no copy of its own. Snake case, as every answer of the API.
 */

/** What became of the requests an endpoint copied (or chose not to copy) to one shadow variant. */
export interface ShadowRequestsJson {
  /** Run on the shadow and compared with the served answer. */
  compared: number;
  /** Sampled but not run: see `dropped_by_reason`. */
  dropped: number;
  /** Run, but the shadow failed (its error is logged) or its answer could not be compared. */
  failed: number;
  /** Left out by the sampling rate. */
  not_sampled: number;
}

/**
 * Why sampled requests were dropped: the variant's queue was full (the shadow is slower than the traffic sent to
 * it), its model had no free worker or admitted nothing more (live traffic comes first), or the request cannot
 * be compared (raw tensors through /v2, a classifier's answer: no masks).
 */
export interface ShadowDropsJson {
  queue_full: number;
  busy: number;
  not_comparable: number;
}

/** Per comparison details: class maps or instances. */
export type ShadowDetailJson =
  | {
      kind: 'class-map';
      /** Share of pixels both answers give the same class. */
      pixel_agreement: number;
      classes: Array<{
        label: string;
        class_id: number;
        served_pixels: number;
        shadow_pixels: number;
        iou: number;
        background: boolean;
      }>;
    }
  | {
      kind: 'instances';
      served_count: number;
      shadow_count: number;
      /** shadow_count - served_count. */
      count_difference: number;
      matched: number;
      mean_matched_iou: number | null;
      class_agreement: number | null;
      f1: number;
      /** The matched pairs' labels (served, shadow) and IoU, highest IoU first. */
      matches: Array<{ served: string; shadow: string; iou: number }>;
      /** Labels of the instances without a match, on each side. */
      unmatched_served: string[];
      unmatched_shadow: string[];
    };

/** One kept comparison: among the ones that agree least, with its image and both answers in memory. */
export interface ShadowComparisonJson {
  id: string;
  /** Epoch milliseconds when the served answer was done. */
  at: number;
  request_id: string | null;
  /** 0..1; see README "Shadow traffic" for what it means per task. */
  agreement: number;
  /** What answered the client. */
  served: { model: string; version: number; variant: string };
  latency_ms: { served: number; shadow: number };
  image: { width: number; height: number; format: string };
  detail: ShadowDetailJson;
  /** The image and both answers' masks (PNG, transparent where nothing was found), for side by side views. */
  links: { image: string; served: string; shadow: string };
}

export interface ShadowVariantJson {
  variant: string;
  model: string;
  version: number;
  sample_rate: number;
  /** The served variant's task, once a comparison was made (classifiers' answers have no masks to compare). */
  task: 'instance' | 'semantic' | 'binary' | null;
  requests: ShadowRequestsJson;
  dropped_by_reason: ShadowDropsJson;
  /** Copies waiting for the shadow now, and the most that wait before more are dropped. */
  queue: { depth: number; capacity: number };
  agreement: {
    mean: number | null;
    min: number | null;
    /** Bin i counts agreements in [edges[i], edges[i + 1]) (the last bin includes 1). */
    histogram: { edges: number[]; counts: number[] };
  };
  /** Instance models: means over the compared requests. */
  instances: {
    mean_matched_iou: number | null;
    class_agreement: number | null;
    mean_count_difference: number;
  } | null;
  /**
   * Means over the compared requests, in ms, of each side's time for the request (decode, preprocess, inference,
   * postprocess: queueing and the served answer's encoding left out), and of shadow - served.
   */
  latency_ms: { served: number | null; shadow: number | null; difference: number | null };
  /** The comparisons that agree least, least first. */
  disagreements: ShadowComparisonJson[];
}

export interface EndpointShadowsJson {
  endpoint: string;
  variants: ShadowVariantJson[];
}

export interface ShadowListJson {
  endpoints: EndpointShadowsJson[];
}
