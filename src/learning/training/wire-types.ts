/** A training run as the API answers it and the UI draws it (learning curves from `epochs`). */
export interface TrainingRunJson {
  id: string;
  model: string;
  kind: 'unet' | 'classifier';
  state: 'running' | 'succeeded' | 'failed';
  dataset?: string;
  dataset_version?: string;
  code_version?: string;
  /** The trainer's options. */
  params: Record<string, unknown>;
  /** One entry per epoch as the trainer reported it: `epoch`, `loss`, `val` (pixel_accuracy, mean_iou, dice...). */
  epochs: Array<Record<string, unknown>>;
  /** The final validation metrics. */
  metrics?: Record<string, unknown>;
  /** What the upload made of the result: the version, and whether the promotion gate accepted it. */
  produced?: { version: number; gate?: { accepted: boolean; reason?: string } };
  error?: string;
  started_at: string;
  finished_at?: string;
}

/** `GET /v1/models/{model}/training-runs`: newest first. */
export interface TrainingRunListJson {
  runs: TrainingRunJson[];
}
