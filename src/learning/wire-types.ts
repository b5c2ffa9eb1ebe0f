/**
 * The JSON of the active-learning routes, shared by the server (which answers it) and the web UI (which reads
 * it), so the two cannot drift apart. No imports: the browser build takes this file as it is.
 */

/** What one retraining hook did. */
export interface HookOutcomeJson {
  kind: 'webhook' | 'command' | 'job';
  /** The URL without its query, the program, or the queue: enough to tell hooks apart, never a secret. */
  target: string;
  ok: boolean;
  attempts: number;
  /** The HTTP status or the exit code of the last attempt. */
  status?: number;
  error?: string;
}

/** A retraining trigger that fired (`GET /v1/retraining/triggers`). */
export interface RetrainingTriggerJson {
  id: string;
  model: string;
  dataset: string;
  /** The dataset version it snapshotted; null when it failed before (the snapshot). */
  dataset_version: string | null;
  /** `drift`, or `new_labels: N since the last version`. */
  reason: string;
  state: 'pending' | 'succeeded' | 'failed';
  hooks: HookOutcomeJson[];
  /** Why it failed before its hooks. */
  error?: string;
  created_at: string;
  finished_at: string | null;
}

export interface RetrainingTriggerListJson {
  triggers: RetrainingTriggerJson[];
}
