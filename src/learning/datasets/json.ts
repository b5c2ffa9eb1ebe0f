/**
 * Datasets and versions as JSON, one shape for `segserve datasets ... --json` and the HTTP API (snake_case, ISO
 * times, as the rest of the wire), so the two never drift apart.
 */
import type { DatasetInfo, DatasetVersion } from './catalog.js';
import type { VersionDiff } from './diff.js';
import type { VersionSummary } from './summary.js';

export interface DatasetJson {
  name: string;
  task: DatasetInfo['task'];
  labels: string[];
  model: string | null;
  created_at: string;
  items: number;
  versions: number;
  latest: string | null;
}

export interface VersionJson {
  dataset: string;
  id: string;
  items: number;
  train: number;
  validation: number;
  parent: string | null;
  note: string | null;
  created_at: string;
}

export type VersionDetailJson = VersionJson & VersionSummary & { task: DatasetInfo['task'] };

export type DiffJson = Omit<VersionDiff, 'from' | 'to'> & { from: VersionJson | null; to: VersionJson };

export function datasetJson(dataset: DatasetInfo): DatasetJson {
  return {
    name: dataset.name,
    task: dataset.task,
    labels: [...dataset.labels],
    model: dataset.model,
    created_at: dataset.createdAt.toISOString(),
    items: dataset.items,
    versions: dataset.versions,
    latest: dataset.latest,
  };
}

export function versionJson(version: DatasetVersion): VersionJson {
  return {
    dataset: version.dataset,
    id: version.id,
    items: version.items,
    train: version.train,
    validation: version.validation,
    parent: version.parent,
    note: version.note,
    created_at: version.createdAt.toISOString(),
  };
}

export function versionDetailJson(
  dataset: DatasetInfo,
  version: DatasetVersion,
  summary: VersionSummary,
): VersionDetailJson {
  return { ...versionJson(version), task: dataset.task, ...summary };
}

export function diffJson(diff: VersionDiff): DiffJson {
  return { ...diff, from: diff.from && versionJson(diff.from), to: versionJson(diff.to) };
}
