import { describe, expect, it } from 'vitest';
import {
  asCroppedMask,
  cropToContent,
  expandCroppedMask,
  isCroppedMask,
  maskArea,
  maskBbox,
} from '../../src/masks/crop.js';
import { cropOf, emptyMask, fillRect, firstDifference, noiseMask, seededRandom } from './helpers.js';

describe('crop helpers', () => {
  it('expandCroppedMask pastes the crop at its offset and normalises values to 0/1', () => {
    const crop = {
      width: 5,
      height: 4,
      left: 1,
      top: 2,
      cropWidth: 3,
      cropHeight: 2,
      data: Uint8Array.from([255, 0, 1, 0, 7, 0]),
    };
    const full = expandCroppedMask(crop);
    expect(full.width).toBe(5);
    expect(full.height).toBe(4);
    expect(Array.from(full.data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0]);
  });

  it('cropToContent shrinks to the tight box and expands back to the same mask', () => {
    const random = seededRandom(9);
    for (let k = 0; k < 50; k++) {
      const width = 1 + Math.floor(random() * 30);
      const height = 1 + Math.floor(random() * 30);
      const mask = emptyMask(width, height);
      const x0 = Math.floor(random() * width);
      const y0 = Math.floor(random() * height);
      const x1 = x0 + Math.floor(random() * (width - x0));
      const y1 = y0 + Math.floor(random() * (height - y0));
      fillRect(mask, x0, y0, x1, y1);
      const crop = cropToContent(mask);
      expect([crop.left, crop.top, crop.cropWidth, crop.cropHeight]).toEqual([
        x0,
        y0,
        x1 - x0 + 1,
        y1 - y0 + 1,
      ]);
      expect(firstDifference(expandCroppedMask(crop).data, mask.data)).toBe(-1);
      // Cropping a crop again keeps image coordinates.
      const padded = cropOf(mask, 0, y0, width, height - y0);
      expect(cropToContent(padded)).toEqual(crop);
    }
  });

  it('cropToContent of an empty mask is a 0x0 crop', () => {
    const crop = cropToContent(emptyMask(7, 3));
    expect([crop.width, crop.height, crop.cropWidth, crop.cropHeight, crop.data.length]).toEqual([
      7, 3, 0, 0, 0,
    ]);
    expect(expandCroppedMask(crop).data).toEqual(new Uint8Array(21));
  });

  it('maskArea and maskBbox count pixels and give the tight [x, y, w, h] box', () => {
    const mask = fillRect(fillRect(emptyMask(20, 10), 3, 2, 5, 4), 12, 7, 12, 8);
    expect(maskArea(mask)).toBe(9 + 2);
    expect(maskBbox(mask)).toEqual([3, 2, 10, 7]);
    const crop = cropOf(mask, 2, 1, 15, 9);
    expect(maskArea(crop)).toBe(11);
    expect(maskBbox(crop)).toEqual([3, 2, 10, 7]);
    expect(maskBbox(emptyMask(4, 4))).toEqual([0, 0, 0, 0]);
    const noise = noiseMask(31, 17, 0.3, seededRandom(2));
    expect(maskArea(asCroppedMask(noise))).toBe(noise.data.reduce((sum, v) => sum + v, 0));
  });

  it('isCroppedMask tells the two shapes apart and asCroppedMask covers the whole image', () => {
    const mask = emptyMask(3, 2);
    expect(isCroppedMask(mask)).toBe(false);
    const view = asCroppedMask(mask);
    expect(isCroppedMask(view)).toBe(true);
    expect([view.left, view.top, view.cropWidth, view.cropHeight]).toEqual([0, 0, 3, 2]);
  });
});
