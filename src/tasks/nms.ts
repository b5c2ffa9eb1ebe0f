/** Greedy per-class non-maximum suppression, as YOLO post-processing does it (NMS is not in the graph). */

/** Corner box: x1 <= x2, y1 <= y2, in any consistent pixel space. */
export interface CornerBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface NmsCandidate extends CornerBox {
  score: number;
  classId: number;
}

/** Intersection over union; 0 when both boxes are empty. */
export function iou(a: CornerBox, b: CornerBox): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const intersection = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - intersection;
  return union > 0 ? intersection / union : 0;
}

/**
 * Indices of the candidates that survive, best score first (ties keep input order). A candidate is dropped when
 * its IoU with an already kept candidate of the same class is above `iouThreshold` (strictly, as torchvision's
 * `nms`). Stops after `maxKeep` survivors, so a cap costs nothing beyond the boxes it keeps.
 */
export function nms(
  candidates: readonly NmsCandidate[],
  iouThreshold: number,
  maxKeep = Number.POSITIVE_INFINITY,
): number[] {
  const order = candidates
    .map((_, i) => i)
    .sort((a, b) => candidates[b].score - candidates[a].score || a - b);
  const keptByClass = new Map<number, NmsCandidate[]>();
  const kept: number[] = [];
  for (const index of order) {
    if (kept.length >= maxKeep) break;
    const candidate = candidates[index];
    let sameClass = keptByClass.get(candidate.classId);
    if (sameClass === undefined) {
      sameClass = [];
      keptByClass.set(candidate.classId, sameClass);
    }
    if (sameClass.some((other) => iou(candidate, other) > iouThreshold)) continue;
    sameClass.push(candidate);
    kept.push(index);
  }
  return kept;
}
