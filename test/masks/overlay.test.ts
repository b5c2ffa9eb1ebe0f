import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { SegserveError } from '../../src/errors.js';
import type { RawImage } from '../../src/image/types.js';
import { cropToContent } from '../../src/masks/crop.js';
import { renderOverlay } from '../../src/masks/overlay.js';
import type { Rgb } from '../../src/masks/palette.js';
import { ellipseMask, emptyMask, fillRect, seededRandom } from './helpers.js';

const WIDTH = 96;
const HEIGHT = 64;

/** A noisy RGB picture, so "unchanged" means every byte really survived. */
function picture(channels: 1 | 3 | 4 = 3): RawImage {
  const random = seededRandom(12);
  const data = new Uint8Array(WIDTH * HEIGHT * channels).map(() => 40 + Math.floor(random() * 170));
  return { width: WIDTH, height: HEIGHT, channels, data };
}

async function decodeRgb(
  png: Buffer,
): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function pixel(image: { data: Uint8Array }, x: number, y: number): number[] {
  const o = (y * WIDTH + x) * 3;
  return Array.from(image.data.subarray(o, o + 3));
}

function blend(value: number, colour: number, alpha: number): number {
  const weight = Math.round(alpha * 256);
  return (value * (256 - weight) + colour * weight + 128) >> 8;
}

describe('renderOverlay', () => {
  const red: Rgb = [255, 0, 0];
  const mask = cropToContent(ellipseMask(WIDTH, HEIGHT, 40, 30, 20, 14));

  it('tints pixels inside the mask towards the colour and leaves every other pixel unchanged', async () => {
    const image = picture();
    const png = await renderOverlay(
      image,
      { kind: 'instances', instances: [{ mask, color: red }] },
      { alpha: 0.5, outline: false },
    );
    const out = await decodeRgb(png);
    expect([out.width, out.height, out.channels]).toEqual([WIDTH, HEIGHT, 3]);
    let inside = 0;
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        const before = pixel(image, x, y);
        const after = pixel(out, x, y);
        const mx = x - mask.left;
        const my = y - mask.top;
        const covered =
          mx >= 0 &&
          my >= 0 &&
          mx < mask.cropWidth &&
          my < mask.cropHeight &&
          mask.data[my * mask.cropWidth + mx] === 1;
        if (covered) {
          inside++;
          expect(after).toEqual(before.map((v, k) => blend(v, red[k], 0.5)));
        } else {
          expect(after, `${x},${y}`).toEqual(before);
        }
      }
    }
    expect(inside).toBeGreaterThan(500);
  });

  it('paints the mask edge in the full colour when outlining', async () => {
    const image = picture();
    const out = await decodeRgb(
      await renderOverlay(image, { kind: 'instances', instances: [{ mask, color: red }] }, { outline: true }),
    );
    // The leftmost pixel of the ellipse's middle row is on its edge; its centre is not.
    const row = 30;
    let left = 0;
    while (ellipseMask(WIDTH, HEIGHT, 40, 30, 20, 14).data[row * WIDTH + left] === 0) left++;
    expect(pixel(out, left, row)).toEqual(red);
    expect(pixel(out, 40, 30)).toEqual(pixel(image, 40, 30).map((v, k) => blend(v, red[k], 0.5)));
    expect(pixel(out, 2, 2)).toEqual(pixel(image, 2, 2));
  });

  it('draws boxes and caption tags (XML-escaped) and leaves far pixels alone', async () => {
    const image = picture();
    const box: [number, number, number, number] = [20, 30, 40, 25];
    const png = await renderOverlay(image, {
      kind: 'instances',
      instances: [{ mask, color: [0, 0, 255], box, caption: 'cat & <dog> "0.82"' }],
    });
    const out = await decodeRgb(png);
    expect([out.width, out.height]).toEqual([WIDTH, HEIGHT]);
    // The box stroke lies on whole pixels inside the box: its left column, below the mask, is pure blue.
    expect(pixel(out, 20, 52)).toEqual([0, 0, 255]);
    expect(pixel(out, 19, 52)).toEqual(pixel(image, 19, 52));
    // The tag sits above the box (y < 30), starting at x = 20.
    let changedAbove = 0;
    for (let y = 0; y < 30; y++)
      for (let x = 20; x < 60; x++) if (pixel(out, x, y).join() !== pixel(image, x, y).join()) changedAbove++;
    expect(changedAbove).toBeGreaterThan(200);
    expect(pixel(out, WIDTH - 1, HEIGHT - 1)).toEqual(pixel(image, WIDTH - 1, HEIGHT - 1));
  });

  it('skips boxes and captions when asked', async () => {
    const image = picture();
    const box: [number, number, number, number] = [70, 40, 20, 20];
    const empty = cropToContent(emptyMask(WIDTH, HEIGHT));
    const png = await renderOverlay(
      image,
      { kind: 'instances', instances: [{ mask: empty, color: red, box, caption: 'x' }] },
      { drawBoxes: false, drawCaptions: false },
    );
    const out = await decodeRgb(png);
    expect(firstChanged(out.data, image.data)).toBe(-1);
  });

  it('accepts grey and RGBA images and writes RGB, also as JPEG', async () => {
    for (const channels of [1, 4] as const) {
      const image = picture(channels);
      const png = await renderOverlay(image, { kind: 'instances', instances: [] });
      const out = await decodeRgb(png);
      expect([out.width, out.height, out.channels]).toEqual([WIDTH, HEIGHT, 3]);
      const source = Array.from(image.data.subarray(0, channels));
      expect(pixel(out, 0, 0)).toEqual(
        channels === 1 ? [source[0], source[0], source[0]] : source.slice(0, 3),
      );
    }
    const jpeg = await renderOverlay(
      picture(),
      { kind: 'instances', instances: [{ mask, color: red }] },
      { format: 'jpeg' },
    );
    const metadata = await sharp(jpeg).metadata();
    expect([metadata.format, metadata.width, metadata.height, metadata.channels]).toEqual([
      'jpeg',
      WIDTH,
      HEIGHT,
      3,
    ]);
  });

  it('colours a class map, leaving null classes untouched, and draws a legend of present classes', async () => {
    const image = picture();
    const classMap = new Uint8Array(WIDTH * HEIGHT);
    fillRect({ width: WIDTH, height: HEIGHT, data: classMap }, 50, 20, 90, 60, 1);
    fillRect({ width: WIDTH, height: HEIGHT, data: classMap }, 60, 30, 70, 40, 2);
    const colors: Array<Rgb | null> = [null, [0, 255, 0], null, [255, 0, 255]];
    const plain = await decodeRgb(
      await renderOverlay(
        image,
        { kind: 'classmap', classMap, width: WIDTH, height: HEIGHT, colors },
        { outline: false, alpha: 0.25 },
      ),
    );
    expect(pixel(plain, 75, 50)).toEqual(pixel(image, 75, 50).map((v, k) => blend(v, [0, 255, 0][k], 0.25)));
    expect(pixel(plain, 65, 35)).toEqual(pixel(image, 65, 35));
    expect(pixel(plain, 10, 10)).toEqual(pixel(image, 10, 10));

    const captions = ['background', 'grass', 'road', 'sky'];
    const legend = await decodeRgb(
      await renderOverlay(image, {
        kind: 'classmap',
        classMap,
        width: WIDTH,
        height: HEIGHT,
        colors,
        captions,
      }),
    );
    // The legend panel darkens the top-left corner; the bottom-left corner stays as it was.
    const [lr, lg, lb] = pixel(legend, 1, 1);
    const [ir, ig, ib] = pixel(image, 1, 1);
    expect(lr + lg + lb).toBeLessThan(ir + ig + ib);
    expect(pixel(legend, 2, HEIGHT - 2)).toEqual(pixel(image, 2, HEIGHT - 2));
    // Outline on by default: the class-1 border pixel is painted fully.
    expect(pixel(legend, 90, 60)).toEqual([0, 255, 0]);
  });

  it('rejects inputs that do not fit the image', async () => {
    const image = picture();
    await expect(
      renderOverlay(image, {
        kind: 'classmap',
        classMap: new Uint8Array(10),
        width: WIDTH,
        height: HEIGHT,
        colors: [],
      }),
    ).rejects.toThrow(SegserveError);
    const otherSize = cropToContent(ellipseMask(50, 50, 25, 25, 10, 10));
    await expect(
      renderOverlay(image, { kind: 'instances', instances: [{ mask: otherSize, color: red }] }),
    ).rejects.toThrow(/does not fit/);
    await expect(renderOverlay(image, { kind: 'instances', instances: [] }, { alpha: 2 })).rejects.toThrow(
      /alpha/,
    );
    await expect(
      renderOverlay(
        { width: 2, height: 2, channels: 3, data: new Uint8Array(5) },
        { kind: 'instances', instances: [] },
      ),
    ).rejects.toThrow(SegserveError);
  });
});

function firstChanged(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
