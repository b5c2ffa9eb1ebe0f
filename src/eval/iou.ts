/**
 * Overlap measures between binary masks of the same size. `a` and `b` are row-major, one byte per pixel;
 * any non-zero byte counts as foreground, so class maps can be compared by first selecting a class.
 */
export function intersectionOverUnion(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`mask sizes differ: ${a.length} vs ${b.length}`);
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const inA = a[i] !== 0;
    const inB = b[i] !== 0;
    if (inA && inB) intersection++;
    if (inA || inB) union++;
  }
  // Two empty masks agree perfectly.
  return union === 0 ? 1 : intersection / union;
}

export function diceCoefficient(a: Uint8Array, b: Uint8Array): number {
  const iou = intersectionOverUnion(a, b);
  return (2 * iou) / (1 + iou);
}

/** A 0/1 mask of the pixels of `classMap` whose value satisfies `select`. */
export function selectClasses(classMap: Uint8Array, select: (classId: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = select(c) ? 1 : 0;
  const out = new Uint8Array(classMap.length);
  for (let i = 0; i < classMap.length; i++) out[i] = table[classMap[i]];
  return out;
}
