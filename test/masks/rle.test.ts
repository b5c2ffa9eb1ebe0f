import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import { expandCroppedMask, maskArea, maskBbox } from '../../src/masks/crop.js';
import {
  countsToString,
  decodeRle,
  encodeCroppedMask,
  encodeMask,
  rleArea,
  rleBbox,
  stringToCounts,
  toCompressedRle,
  unionRle,
} from '../../src/masks/rle.js';
import type { BinaryMask } from '../../src/masks/types.js';
import {
  cropOf,
  ellipseMask,
  emptyMask,
  fillRect,
  firstDifference,
  noiseMask,
  normalised,
  rectanglesMask,
  referenceCounts,
  seededRandom,
} from './helpers.js';

// Strings written by pycocotools' rleToString for these counts.
const KNOWN_VECTORS: Array<[number[], string]> = [
  [[4, 2, 1, 2, 3], '42102'],
  [[0, 6, 1], '061'],
  [[307200], 'PP\\9'],
  [[100, 50, 10, 200, 5], 'T3b1:f4K'],
  [[1000, 20000, 3000, 1], 'Xo0Pac0hm2Q_\\O'],
  [[0, 1, 45950], '01nk\\1'],
];

/** Masks of many shapes and sizes: tiny, empty, full, odd widths (unaligned rows), noise and blobs. */
function variedMasks(): Array<{ name: string; mask: BinaryMask }> {
  const random = seededRandom(7);
  const masks: Array<{ name: string; mask: BinaryMask }> = [
    { name: '1x1 empty', mask: emptyMask(1, 1) },
    { name: '1x1 full', mask: fillRect(emptyMask(1, 1), 0, 0, 0, 0) },
    { name: '0x0', mask: emptyMask(0, 0) },
    { name: '0x5', mask: emptyMask(0, 5) },
    { name: 'all zeros 37x23', mask: emptyMask(37, 23) },
    { name: 'all ones 37x23', mask: fillRect(emptyMask(37, 23), 0, 0, 36, 22) },
    { name: 'single row', mask: noiseMask(53, 1, 0.5, random) },
    { name: 'single column', mask: noiseMask(1, 61, 0.5, random) },
    { name: 'ellipse 640x480', mask: ellipseMask(640, 480, 300, 200, 150, 120) },
    { name: 'ellipse touching borders', mask: ellipseMask(101, 77, 50, 38, 60, 45) },
  ];
  for (let k = 0; k < 30; k++) {
    const width = 1 + Math.floor(random() * 70);
    const height = 1 + Math.floor(random() * 70);
    masks.push({ name: `noise ${width}x${height} #${k}`, mask: noiseMask(width, height, random(), random) });
    masks.push({
      name: `rectangles ${width}x${height} #${k}`,
      mask: rectanglesMask(width, height, 5, random),
    });
  }
  return masks;
}

describe('countsToString / stringToCounts', () => {
  it.each(KNOWN_VECTORS)('%j <-> %s (pycocotools vectors)', (counts, text) => {
    expect(countsToString(counts)).toBe(text);
    expect(stringToCounts(text)).toEqual(counts);
  });

  it('round-trips large and strongly varying counts', () => {
    const random = seededRandom(3);
    for (let k = 0; k < 200; k++) {
      const counts = Array.from({ length: 1 + Math.floor(random() * 40) }, () =>
        Math.floor(random() ** 3 * 2 ** (1 + Math.floor(random() * 33))),
      );
      expect(stringToCounts(countsToString(counts))).toEqual(counts);
    }
    expect(countsToString([])).toBe('');
    expect(stringToCounts('')).toEqual([]);
  });

  it('rejects characters outside the alphabet, truncated values and negative runs', () => {
    expect(() => stringToCounts('4 2')).toThrow(SegserveError);
    expect(() => stringToCounts('~')).toThrow(/not part of a COCO RLE string/);
    // 'P' (32) carries the continuation bit and nothing follows.
    expect(() => stringToCounts('42P')).toThrow(/ends in the middle/);
    // The fourth value is a delta of -5 against the second count (2): -3.
    expect(() => stringToCounts(`421${countsToString([0, 0, 0, -5]).slice(3)}`)).toThrow(/negative/);
  });
});

describe('encodeMask', () => {
  it('matches the pixel-by-pixel pycocotools algorithm on varied masks', () => {
    for (const { name, mask } of variedMasks()) {
      expect(encodeMask(mask), name).toEqual(referenceCounts(mask));
    }
  });

  it('writes the runs in column-major order, starting with background', () => {
    // 3 wide, 2 high: column 0 = [1, 0], column 1 = [1, 1], column 2 = [0, 0].
    const mask = { width: 3, height: 2, data: Uint8Array.from([1, 1, 0, 0, 1, 0]) };
    expect(encodeMask(mask)).toEqual([0, 1, 1, 2, 2]);
    expect(encodeMask(emptyMask(4, 3))).toEqual([12]);
    expect(encodeMask(fillRect(emptyMask(4, 3), 0, 0, 3, 2))).toEqual([0, 12]);
  });

  it('treats any non-zero byte as foreground and reads masks that are views at odd offsets', () => {
    const random = seededRandom(11);
    const base = noiseMask(33, 17, 0.4, random);
    const backing = new Uint8Array(base.data.length + 3);
    const view = backing.subarray(3);
    base.data.forEach((v, i) => {
      view[i] = v * 255;
    });
    expect(encodeMask({ width: 33, height: 17, data: view })).toEqual(referenceCounts(base));
  });

  it('rejects masks whose data does not match their size', () => {
    expect(() => encodeMask({ width: 4, height: 4, data: new Uint8Array(15) })).toThrow(SegserveError);
  });
});

describe('round trip mask -> counts -> string -> counts -> mask', () => {
  it('reproduces every varied mask', () => {
    for (const { name, mask } of variedMasks()) {
      const counts = encodeMask(mask);
      const text = countsToString(counts);
      expect(stringToCounts(text), name).toEqual(counts);
      const decoded = decodeRle({ size: [mask.height, mask.width], counts: text });
      expect(decoded.width).toBe(mask.width);
      expect(decoded.height).toBe(mask.height);
      expect(firstDifference(decoded.data, normalised(mask)), name).toBe(-1);
      expect(
        firstDifference(decodeRle({ size: [mask.height, mask.width], counts }).data, normalised(mask)),
        name,
      ).toBe(-1);
    }
  });

  it('toCompressedRle gives size [height, width] and the compressed counts', () => {
    const mask = ellipseMask(64, 32, 20, 16, 10, 8);
    const rle = toCompressedRle(mask);
    expect(rle.size).toEqual([32, 64]);
    expect(rle.counts).toBe(countsToString(referenceCounts(mask)));
    const crop = cropOf(mask, 5, 3, 40, 27);
    expect(toCompressedRle(crop)).toEqual(rle);
  });
});

describe('decodeRle validation', () => {
  it('rejects counts that do not cover height x width', () => {
    expect(() => decodeRle({ size: [2, 3], counts: [1, 2] })).toThrow(/sum to 3 but size 2x3 has 6 pixels/);
    expect(() => decodeRle({ size: [2, 3], counts: [1, 2, 4] })).toThrow(SegserveError);
    expect(() => decodeRle({ size: [2, 3], counts: '41' })).toThrow(SegserveError);
  });

  it('rejects bad sizes, negative or fractional counts', () => {
    expect(() => decodeRle({ size: [2, -3], counts: [] })).toThrow(/size/);
    expect(() => decodeRle({ size: [2, 3], counts: [7, -1] })).toThrow(/non-negative integers/);
    expect(() => decodeRle({ size: [2, 3], counts: [5.5, 0.5] })).toThrow(/non-negative integers/);
    try {
      decodeRle({ size: [1, 1], counts: '~' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SegserveError);
      expect((error as SegserveError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('encodeCroppedMask', () => {
  it('equals encodeMask of the expanded mask for crops anywhere, including at the borders and empty ones', () => {
    const random = seededRandom(5);
    for (let k = 0; k < 150; k++) {
      const width = 1 + Math.floor(random() * 60);
      const height = 1 + Math.floor(random() * 60);
      const cropWidth = Math.floor(random() * (width + 1));
      const cropHeight = Math.floor(random() * (height + 1));
      const left = Math.floor(random() * (width - cropWidth + 1));
      const top = Math.floor(random() * (height - cropHeight + 1));
      const source =
        k % 2 === 0 ? noiseMask(width, height, random(), random) : rectanglesMask(width, height, 4, random);
      const crop = cropOf(source, left, top, cropWidth, cropHeight);
      const label = `${width}x${height} crop ${cropWidth}x${cropHeight} at ${left},${top}`;
      expect(encodeCroppedMask(crop), label).toEqual(encodeMask(expandCroppedMask(crop)));
    }
  });

  it('rejects crops that stick out of the image', () => {
    const crop = {
      width: 10,
      height: 10,
      left: 8,
      top: 0,
      cropWidth: 3,
      cropHeight: 1,
      data: new Uint8Array(3),
    };
    expect(() => encodeCroppedMask(crop)).toThrow(/does not fit a 10x10 image/);
  });
});

describe('rleArea / rleBbox', () => {
  it('equal the pixel area and tight box of varied masks', () => {
    for (const { name, mask } of variedMasks()) {
      const counts = encodeMask(mask);
      expect(rleArea(counts), name).toBe(maskArea(mask));
      expect(rleBbox(counts, mask.height, mask.width), name).toEqual(maskBbox(mask));
    }
  });

  it('follow pycocotools toBbox on hand-made cases', () => {
    // Empty: [0, 0, 0, 0].
    expect(rleBbox([12], 3, 4)).toEqual([0, 0, 0, 0]);
    // Full image.
    expect(rleBbox([0, 12], 3, 4)).toEqual([0, 0, 4, 3]);
    // One run from the bottom of column 1 to the top of column 2 covers rows 2 and 0: full height.
    expect(rleBbox([5, 2, 5], 3, 4)).toEqual([1, 0, 2, 3]);
    // A single pixel at column 2, row 1.
    expect(rleBbox([7, 1, 4], 3, 4)).toEqual([2, 1, 1, 1]);
    expect(rleArea([5, 2, 3, 2])).toBe(4);
  });
});

describe('unionRle', () => {
  it('unites two masks on their runs, as the pixels do, in canonical runs', () => {
    const random = seededRandom(21);
    for (let k = 0; k < 40; k++) {
      const width = 1 + Math.floor(random() * 30);
      const height = 1 + Math.floor(random() * 30);
      const a = noiseMask(width, height, random(), random);
      const b = rectanglesMask(width, height, 3, random);
      const union = unionRle(encodeMask(a), encodeMask(b));
      const pixels = { width, height, data: a.data.map((v, i) => v | b.data[i]) };
      expect(union, `union #${k}`).toEqual(encodeMask(pixels));
    }
    // Leading and inner zero-length runs are read as runs of nothing.
    expect(unionRle([0, 2, 0, 1, 1], [4])).toEqual([0, 3, 1]);
  });

  it('refuses masks of different sizes', () => {
    expect(() => unionRle([4], [5])).toThrow(SegserveError);
  });
});
