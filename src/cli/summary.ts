/**
 * What `segserve predict` found, in words that fit the task: instances for instance models; for semantic and
 * binary models the classes present other than background (a background class covers most pixels of every
 * image, so counting it would report a "detection" in an empty picture).
 */
import type { Task } from '../models/config.js';
import type { SegmentationResult } from '../tasks/types.js';

export function isBackground(task: Task, classId: number, label: string): boolean {
  return label.toLowerCase() === 'background' || (task === 'binary' && classId === 0);
}

/** Instances, or non-background classes present in the image; for a classifier, 1 (its best class). */
export function countFound(result: SegmentationResult): number {
  if (result.task === 'instance') return result.instances.length;
  if (result.task === 'classification') return result.top.length > 0 ? 1 : 0;
  return result.areas.filter((a) => a.area > 0 && !isBackground(result.task, a.classId, a.label)).length;
}

/** One image's count, for the progress line: "3 instances", "2 classes", "foreground" / "no foreground". */
export function describeFound(task: Task, found: number): string {
  if (task === 'instance') return `${found} ${found === 1 ? 'instance' : 'instances'}`;
  if (task === 'binary') return found > 0 ? 'foreground' : 'no foreground';
  return `${found} non-background ${found === 1 ? 'class' : 'classes'}`;
}

/** One image's progress line: what describeFound says, or a classifier's best class and its score. */
export function describeResult(result: SegmentationResult): string {
  if (result.task === 'classification') {
    const best = result.top[0];
    return best ? `${best.label} ${best.score.toFixed(2)}` : 'no class';
  }
  return describeFound(result.task, countFound(result));
}

/** The totals over every image segmented, for the summary line. */
export function describeTotal(task: Task | undefined, found: number, images: number): string {
  if (task === 'instance') return `${found} ${found === 1 ? 'instance' : 'instances'}`;
  if (task === 'binary') return `foreground in ${found} of ${images} ${images === 1 ? 'image' : 'images'}`;
  if (task === 'classification') return `${found} ${found === 1 ? 'image' : 'images'} classified`;
  if (task === 'semantic') return `${found} non-background classes present (summed over images)`;
  return 'nothing segmented';
}
