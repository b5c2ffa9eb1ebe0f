/**
 * IEEE 754 half precision (FP16) to and from JavaScript numbers. Node 20 has no Float16Array, and onnxruntime
 * carries float16 tensors as the raw 16-bit patterns in a Uint16Array, so JSON tensors convert here.
 */

const MANTISSA_STEPS = 1024;
/** 2^-24: the smallest subnormal half, the unit of subnormal mantissas. */
const SUBNORMAL_UNIT = 2 ** -24;

/** The number a half-precision bit pattern stands for (NaN and infinities included). */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * SUBNORMAL_UNIT;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / MANTISSA_STEPS) * 2 ** (exponent - 15);
}

/** Rounds to the nearest integer, ties to even, as IEEE 754 conversions do. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/**
 * The half-precision bit pattern nearest to a finite number (round to nearest, ties to even), or undefined when
 * the number lies beyond the largest half (65504) so far that it would round to infinity. Converting straight
 * from the double avoids the double rounding a detour through float32 could cause.
 */
export function numberToHalf(value: number): number | undefined {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude === 0) return sign;
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 can be off by one near powers of two; settle the exponent exactly.
  if (2 ** exponent > magnitude) exponent--;
  else if (2 ** (exponent + 1) <= magnitude) exponent++;
  if (exponent < -14) {
    // Subnormal; a mantissa that rounds up to 1024 is exactly the pattern of the smallest normal half.
    return sign | roundHalfEven(magnitude / SUBNORMAL_UNIT);
  }
  let mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * MANTISSA_STEPS);
  if (mantissa === MANTISSA_STEPS) {
    mantissa = 0;
    exponent++;
  }
  if (exponent > 15) return undefined;
  return sign | ((exponent + 15) << 10) | mantissa;
}
