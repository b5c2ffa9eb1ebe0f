/**
 * Where `segserve predict` writes each image's outputs: the input tree mirrored under the output folder
 * (`sub/x.jpg` -> `out/sub/x.json`, `out/sub/x.png`, `out/sub/x.overlay.png`).
 *
 * The natural name can hit something that must not be overwritten: an input image (`--out` is the input folder
 * and `x.png` sits beside `x.jpg`, whose mask would be `x.png`), another image's outputs (`x.jpg` and `x.png`
 * both want `x.json`; two folder arguments both hold `x.jpg`) or the COCO `results.json`. Refusing the whole run
 * would make "write the masks beside the images" impossible, so such an image gets the first free name of a
 * fixed sequence instead: its full file name (`x.jpg.png`), then a counter (`x.jpg-2.png`, ...). Images are
 * named in input order (sorted), so the same inputs always give the same names.
 */
import { extname, posix, resolve } from 'node:path';
import type { InputImage } from './inputs.js';

/** The file name suffix each per-image format adds to the image's output base. */
export const OUTPUT_SUFFIXES = {
  json: '.json',
  png: '.png',
  overlay: '.overlay.png',
} as const;

export type PerImageFormat = keyof typeof OUTPUT_SUFFIXES;

/** Comparison key: case-folded, so names stay distinct on case-insensitive file systems too. */
const key = (path: string) => resolve(path).toLowerCase();

function* candidates(relative: string): Generator<string> {
  const dir = posix.dirname(relative);
  const ext = extname(relative);
  const stem = posix.basename(relative, ext);
  const at = (name: string) => (dir === '.' ? name : `${dir}/${name}`);
  yield at(stem);
  yield at(`${stem}${ext}`);
  for (let n = 2; ; n++) yield at(`${stem}${ext}-${n}`);
}

/**
 * One output base per image (relative to `outDir`, `/`-separated, without suffix), such that none of the
 * image's output files is an input image, a reserved file (`reserved`, relative to `outDir`) or another image's
 * output.
 */
export function planOutputBases(
  images: readonly InputImage[],
  formats: readonly PerImageFormat[],
  outDir: string,
  reserved: readonly string[] = [],
): string[] {
  const taken = new Set<string>([
    ...images.map((image) => key(image.path)),
    ...reserved.map((name) => key(resolve(outDir, name))),
  ]);
  const suffixes = formats.map((format) => OUTPUT_SUFFIXES[format]);
  return images.map((image) => {
    for (const base of candidates(image.relative)) {
      const targets = suffixes.map((suffix) => key(resolve(outDir, `${base}${suffix}`)));
      if (targets.some((target) => taken.has(target))) continue;
      for (const target of targets) taken.add(target);
      return base;
    }
    // The candidate sequence is endless, so the loop above always returns.
    throw new Error('unreachable');
  });
}
