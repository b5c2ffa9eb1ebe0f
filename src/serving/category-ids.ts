/**
 * Which `category_id` COCO results carry for a label. COCO numbers its 80 categories 1..90 with gaps, so class
 * index + 1 is wrong for most of them (frisbee is class 29 of a COCO-trained model and category 34); results
 * written that way score nothing in pycocotools. The mapping is chosen once per model and named, so the CLI can
 * say which one it used:
 * - `dataset categories file`: the `categories` of a COCO-style json the user gave, by label name;
 * - `coco`: labels that include all of COCO's 80 names get COCO's official ids, by name;
 * - `index+1`: anything else (a model of other classes has no ids but its own).
 */
import { SegserveError } from '../errors.js';
import { COCO_CATEGORIES } from './coco-categories.js';

/** The `category_id` for one label (its class id is the index in the model's labels). */
export type CategoryIdOf = (label: string, classId: number) => number;

export type CategoryMappingKind = 'coco' | 'index+1' | 'dataset categories file';

export interface CategoryMapping {
  categoryId: CategoryIdOf;
  kind: CategoryMappingKind;
  /** One line for people, e.g. `coco (COCO's official category ids, by label name)`. */
  description: string;
}

/** One entry of a COCO json's `categories`. */
export interface DatasetCategory {
  id: number;
  name: string;
}

export const indexPlusOne: CategoryIdOf = (_label, classId) => classId + 1;

const COCO_IDS: ReadonlyMap<string, number> = new Map(COCO_CATEGORIES);

/** True when every one of COCO's 80 names is among the labels (in any order, with extras such as background). */
export function hasCocoLabels(labels: readonly string[]): boolean {
  const present = new Set(labels);
  return COCO_CATEGORIES.every(([name]) => present.has(name));
}

/** By name, and index + 1 for labels the table lacks (placeholders such as torchvision's `N/A`). */
function byName(ids: ReadonlyMap<string, number>): CategoryIdOf {
  return (label, classId) => ids.get(label) ?? classId + 1;
}

/**
 * The mapping for a model with these labels; `datasetCategories` (a COCO json's `categories`, see
 * parseDatasetCategories) wins over the built-in COCO table.
 */
export function categoryMapping(
  labels: readonly string[],
  datasetCategories?: readonly DatasetCategory[],
): CategoryMapping {
  if (datasetCategories) {
    const ids = new Map(datasetCategories.map((c) => [c.name, c.id]));
    const missing = labels.filter((label) => !ids.has(label));
    const note =
      missing.length === 0
        ? 'by label name'
        : `by label name; ${missing.length} label(s) not in it use index+1: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`;
    return {
      categoryId: byName(ids),
      kind: 'dataset categories file',
      description: `dataset categories file (${note})`,
    };
  }
  if (hasCocoLabels(labels)) {
    return {
      categoryId: byName(COCO_IDS),
      kind: 'coco',
      description: "coco (COCO's official category ids, by label name)",
    };
  }
  return { categoryId: indexPlusOne, kind: 'index+1', description: 'index+1 (class index + 1)' };
}

/** The `categories` of a parsed COCO-style json, checked; `source` names it in the error. */
export function parseDatasetCategories(json: unknown, source: string): DatasetCategory[] {
  const categories = (json as { categories?: unknown } | null)?.categories;
  if (!Array.isArray(categories)) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `${source} has no "categories" list` });
  }
  return categories.map((c: unknown, i) => {
    const { id, name } = (c ?? {}) as { id?: unknown; name?: unknown };
    if (!Number.isInteger(id) || typeof name !== 'string') {
      throw new SegserveError('INVALID_ARGUMENT', {
        reason: `${source}: categories[${i}] needs an integer "id" and a string "name"`,
      });
    }
    return { id: id as number, name };
  });
}

/**
 * The COCO `image_id` of each image of a run, by file or key name: a name whose stem is a number (COCO's own
 * `000000139.jpg`) keeps it, so results score against the dataset's ids; the others get sequential ids above
 * every numeric one, so none collide. The same names in the same order always get the same ids.
 */
export function cocoImageIds(names: readonly string[]): number[] {
  const numeric = names.map((name) => {
    const stem = name.replace(/^.*\//, '').replace(/\.[^.]*$/, '');
    return /^\d{1,15}$/.test(stem) ? Number(stem) : undefined;
  });
  let next = Math.max(0, ...numeric.filter((id): id is number => id !== undefined)) + 1;
  return numeric.map((id) => id ?? next++);
}
