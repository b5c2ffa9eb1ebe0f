/**
 * The model lifecycle's answers as they travel (snake_case), shared by the routes and the browser UI (the models
 * page draws each model's version history from them), so neither keeps its own copy.
 */

export interface AliasJson {
  alias: string;
  version: number;
  previous_version: number | null;
  updated_at: string;
  updated_by: string;
}

export interface GateJson {
  metric: string;
  dataset: string;
  candidate: number;
  current: number | null;
  tolerance: number;
}

export interface AliasChangeJson extends AliasJson {
  model: string;
  gate?: GateJson;
}

export interface HistoryEntryJson {
  id: number;
  version: number | null;
  kind: string;
  actor: string;
  details: Record<string, unknown>;
  at: string;
}

export interface EvaluationSummaryJson {
  id: string;
  version: number;
  dataset: string;
  metric: string;
  value: number;
  created_at: string;
}

export interface ModelHistoryJson {
  model: string;
  aliases: AliasJson[];
  evaluations: EvaluationSummaryJson[];
  /** Oldest first. */
  history: HistoryEntryJson[];
}
