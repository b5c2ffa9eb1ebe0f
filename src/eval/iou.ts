/**
 * Overlap measures, from pixel counts (one formula for every caller: binary masks here, each class of a
 * confusion matrix in semantic.ts) and between binary masks of the same size. Masks are row-major, one byte per
 * pixel; any non-zero byte counts as foreground, so class maps can be compared by first selecting a class.
 */

/** tp / (tp + fp + fn); null when the class is in neither mask (0/0: nothing to agree or disagree on). */
export function iouFromCounts(
  truePositives: number,
  falsePositives: number,
  falseNegatives: number,
): number | null {
  const union = truePositives + falsePositives + falseNegatives;
  return union === 0 ? null : truePositives / union;
}

/** 2 tp / (2 tp + fp + fn), the F1 score of the pixels; null when the class is in neither mask. */
export function diceFromCounts(
  truePositives: number,
  falsePositives: number,
  falseNegatives: number,
): number | null {
  const total = 2 * truePositives + falsePositives + falseNegatives;
  return total === 0 ? null : (2 * truePositives) / total;
}

interface BinaryCounts {
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
}

/** `a` is the prediction, `b` the truth (the two measures below are symmetric, the counts are not). */
function binaryCounts(a: Uint8Array, b: Uint8Array): BinaryCounts {
  if (a.length !== b.length) throw new RangeError(`mask sizes differ: ${a.length} vs ${b.length}`);
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  for (let i = 0; i < a.length; i++) {
    const inA = a[i] !== 0;
    const inB = b[i] !== 0;
    if (inA && inB) truePositives++;
    else if (inA) falsePositives++;
    else if (inB) falseNegatives++;
  }
  return { truePositives, falsePositives, falseNegatives };
}

export function intersectionOverUnion(a: Uint8Array, b: Uint8Array): number {
  const { truePositives, falsePositives, falseNegatives } = binaryCounts(a, b);
  // Two empty masks agree perfectly.
  return iouFromCounts(truePositives, falsePositives, falseNegatives) ?? 1;
}

export function diceCoefficient(a: Uint8Array, b: Uint8Array): number {
  const { truePositives, falsePositives, falseNegatives } = binaryCounts(a, b);
  return diceFromCounts(truePositives, falsePositives, falseNegatives) ?? 1;
}

/** A 0/1 mask of the pixels of `classMap` whose value satisfies `select`. */
export function selectClasses(classMap: Uint8Array, select: (classId: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = select(c) ? 1 : 0;
  const out = new Uint8Array(classMap.length);
  for (let i = 0; i < classMap.length; i++) out[i] = table[classMap[i]];
  return out;
}
