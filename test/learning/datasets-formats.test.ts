/**
 * The interchange formats against hand-made test vectors that follow their published descriptions: Label
 * Studio's brush RLE (@thi.ng/rle-pack's bit layout, as label-studio-converter's brush.py writes it), CVAT's
 * `<mask>` RLE ("CVAT for images 1.1", docs.cvat.ai XML annotation format), COCO RLE and instances JSON
 * (pycocotools). Every expected value below is derived by hand in the comments, not produced by the code.
 */
import { describe, expect, it } from 'vitest';
import { isSegserveError } from '../../src/errors.js';
import { cocoDocuments } from '../../src/learning/datasets/export/coco.js';
import { cvatXml } from '../../src/learning/datasets/export/cvat.js';
import type { ExportItem } from '../../src/learning/datasets/export/items.js';
import { labelingConfig, labelStudioTasks } from '../../src/learning/datasets/export/label-studio.js';
import { maskFolderFiles } from '../../src/learning/datasets/export/mask-folder.js';
import { type Split, splitOf } from '../../src/learning/datasets/manifest.js';
import { type LabelDocument, makeDocument } from '../../src/learning/label-document.js';
import {
  brushRleToMask,
  cvatToMask,
  decodeBrushRle,
  encodeBrushRle,
  formatCvatRle,
  maskToBrushRle,
  maskToCvat,
  parseCvatRle,
  toCompressedRle,
} from '../../src/masks/index.js';
import { classMapLabel } from '../helpers/dataset-stores.js';

const PERSON = ['background', 'person'];

/**
 * The 3x2 binary mask of every vector below:
 *
 *     row 0:  0 1 1
 *     row 1:  0 0 0
 */
const MASK_3X2 = { width: 3, height: 2, data: Uint8Array.from([0, 1, 1, 0, 0, 0]) };

/**
 * Label Studio brush RLE of MASK_3X2. As RGBA, row-major: pixel 0 gives 4 values 0, pixels 1-2 give 8 values 255,
 * pixels 3-5 give 12 values 0: 24 values in 3 runs. Bits:
 *   count 24 in 32 bits      00000000 00000000 00000000 00011000
 *   word size 8 - 1 = 7      00111
 *   widths 3,4,8,16 - 1      0010 0011 0111 1111
 *   run of 4 x 0:    repeat 1, class 0 (<= 8)  00, length-1 = 3 in 3 bits 011, value 00000000
 *   run of 8 x 255:  1, 00, 111, 11111111
 *   run of 12 x 0:   1, class 1 (<= 16) 01, length-1 = 11 in 4 bits 1011, value 00000000
 * After the 4 count bytes (0, 0, 0, 24), the stream reads in bytes:
 *   00111001 = 57 | 00011011 = 27 | 11111 100 = 252 | 01100000 = 96 | 000 10011 = 19 | 111111111 -> 11111111 = 255 |
 *   1 1011011 = 219 | 00000000 = 0   (96 bits in all: no padding)
 */
const BRUSH_3X2 = [0, 0, 0, 24, 57, 27, 252, 96, 19, 255, 219, 0];

describe('Label Studio brush RLE', () => {
  it('encodes and decodes the hand-made 3x2 vector', () => {
    expect(maskToBrushRle(MASK_3X2)).toEqual(BRUSH_3X2);
    expect(brushRleToMask(BRUSH_3X2, 3, 2)).toEqual(MASK_3X2);
  });

  it('splits a run longer than 65536 values as rle-pack does', () => {
    // 80000 zeros: count 0x00013880 = bytes 0 1 56 128; then the header bits 00111 0010 0011 0111 1111, a run of
    // 65536 (1, class 3 = 11, length-1 = 65535 = sixteen 1s, value 00000000) and a run of 14464 (1, 11,
    // 14463 = 0011100001111111, 00000000): 21 + 27 + 27 = 75 bits, padded to 10 bytes:
    // 00111001 57 | 00011011 27 | 11111 111 255 | 11111111 255 | 11111111 255 | 00000000 0 | 111 00111 231 |
    // 00001111 15 | 111 00000 224 | 000 00000 0
    const encoded = encodeBrushRle(new Uint8Array(80_000));
    expect(encoded).toEqual([0, 1, 56, 128, 57, 27, 255, 255, 255, 0, 231, 15, 224, 0]);
    expect(decodeBrushRle(encoded)).toEqual(new Uint8Array(80_000));
  });

  it('reads literal chunks (values that differ from their neighbours), as rle-pack writes them', () => {
    // 1 2 3 3 3: literal chunk of 2 (0, class 0 = 00, length-1 = 001, values 00000001 00000010), then a run of 3
    // (1, 00, 010, 00000011). After the header: 0 00 001 00000001 00000010 1 00 010 00000011.
    const values = Uint8Array.from([1, 2, 3, 3, 3]);
    const encoded = encodeBrushRle(values);
    expect(decodeBrushRle(encoded)).toEqual(values);
    // Header (count 5): 0 0 0 5, then 00111001 00011011 11111 000 | 00100000 | 00100000 | 0101 0001 | 0 0000001 |
    // 1 0000000 (pad)
    expect(encoded).toEqual([0, 0, 0, 5, 57, 27, 248, 32, 32, 81, 1, 128]);
  });

  it('refuses a stream that ends early or claims more values than a chunk allows', () => {
    expect(() => decodeBrushRle(BRUSH_3X2.slice(0, 8))).toThrow(/ends before its last value/);
    expect(() => brushRleToMask(BRUSH_3X2, 2, 2)).toThrow(/not 2x2x4/);
    expect(() => decodeBrushRle([0, 0, 0, 1, 300])).toThrow(/bytes/);
  });
});

describe('CVAT mask RLE', () => {
  it('encodes the hand-made vector: runs over the tight box, row-major, background first', () => {
    // MASK_3X2's painted pixels span columns 1-2 of row 0: box left 1, top 0, 2x1; inside it both pixels are
    // painted, so the runs are 0 background, 2 foreground.
    const cvat = maskToCvat(MASK_3X2);
    expect(cvat).toEqual({ left: 1, top: 0, width: 2, height: 1, rle: [0, 2] });
    expect(formatCvatRle(cvat!.rle)).toBe('0, 2');
    expect(cvatToMask(cvat!, 3, 2)).toEqual(MASK_3X2);
  });

  it('round-trips the example of CVAT’s XML format documentation', () => {
    // docs.cvat.ai "XML annotation format", version 1.1, annotation example: a 13x15 disc at 707,888 of a
    // 1600x1200 image. Runs over 13 columns: 3 background, 5 painted, then 7 = 5 ending row 0 + 2 starting row 1...
    const text =
      '3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5, 7, 7, 5, 3';
    const rle = parseCvatRle(text);
    expect(rle.reduce((a, b) => a + b, 0)).toBe(13 * 15);
    const mask = cvatToMask({ left: 707, top: 888, width: 13, height: 15, rle }, 1600, 1200);
    // Row 0 of the box: columns 3..7 painted.
    expect([...mask.data.subarray(888 * 1600 + 707, 888 * 1600 + 720)]).toEqual([
      0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    ]);
    const back = maskToCvat(mask)!;
    expect({ ...back, rle: formatCvatRle(back.rle) }).toEqual({
      left: 707,
      top: 888,
      width: 13,
      height: 15,
      rle: text,
    });
  });

  it('has no mask for an empty one and refuses malformed runs', () => {
    expect(maskToCvat({ width: 2, height: 2, data: new Uint8Array(4) })).toBeUndefined();
    expect(() => parseCvatRle('1, x')).toThrow(/not a non-negative integer/);
    expect(() => cvatToMask({ left: 0, top: 0, width: 2, height: 1, rle: [1] }, 3, 2)).toThrow(/covers 1/);
    expect(() => cvatToMask({ left: 2, top: 0, width: 2, height: 1, rle: [2] }, 3, 2)).toThrow(/not inside/);
  });
});

function item(label: LabelDocument, seed: string, split: Split = 'train'): ExportItem {
  const imageSha256 = seed.repeat(64).slice(0, 64);
  return {
    entry: { imageSha256, labelSha256: 'f'.repeat(64), split, imageExt: 'png' },
    label,
    fileName: `${imageSha256}.png`,
  };
}

const binary3x2 = () => classMapLabel('binary', PERSON, 3, 2, [0, 1, 1, 0, 0, 0]);
const dataset = { name: 'people', task: 'binary' as const, labels: PERSON };

describe('one binary label in every export format', () => {
  it('COCO: one annotation with the pycocotools RLE, area and box', () => {
    // Column-major (COCO's order) the mask reads 0 0 | 1 0 | 1 0: runs 2, 1, 1, 1, 1. Compressed: the first three
    // counts as themselves ('2' '1' '1'), then each minus the count two before (1-1 = 0, 1-1 = 0): "21100".
    const documents = cocoDocuments(dataset, 'v'.repeat(64), [item(binary3x2(), 'a')]);
    expect(documents.train.categories).toEqual([{ id: 1, name: 'person', supercategory: 'people' }]);
    expect(documents.train.images).toEqual([
      { id: 1, file_name: `${'a'.repeat(64)}.png`, width: 3, height: 2 },
    ]);
    expect(documents.train.annotations).toEqual([
      {
        id: 1,
        image_id: 1,
        category_id: 1,
        segmentation: { size: [2, 3], counts: '21100' },
        area: 2,
        bbox: [1, 0, 2, 1],
        iscrowd: 0,
      },
    ]);
    expect(documents.validation.images).toEqual([]);
  });

  it('Label Studio: a brushlabels result carrying the hand-made brush RLE', () => {
    const [task] = labelStudioTasks([item(binary3x2(), 'a')], 'https://bucket.example/images/');
    expect(task).toEqual({
      data: {
        image: `https://bucket.example/images/${'a'.repeat(64)}.png`,
        split: 'train',
        sha256: 'a'.repeat(64),
      },
      annotations: [
        {
          result: [
            {
              id: 'seg0',
              type: 'brushlabels',
              from_name: 'tag',
              to_name: 'image',
              original_width: 3,
              original_height: 2,
              image_rotation: 0,
              value: { format: 'rle', rle: BRUSH_3X2, brushlabels: ['person'] },
            },
          ],
        },
      ],
    });
    expect(labelingConfig(dataset)).toBe(
      [
        '<View>',
        '  <Image name="image" value="$image" zoom="true"/>',
        '  <BrushLabels name="tag" toName="image">',
        '    <Label value="person"/>',
        '  </BrushLabels>',
        '</View>',
        '',
      ].join('\n'),
    );
  });

  it('CVAT: a <mask> with the hand-made runs and box, its label declared as a mask label', () => {
    const xml = cvatXml(dataset, 'c'.repeat(64), [item(binary3x2(), 'a', 'validation')]);
    expect(xml).toContain('<version>1.1</version>');
    expect(xml).toContain('<name>person</name>\n          <type>mask</type>');
    expect(xml).not.toContain('<name>background</name>');
    expect(xml).toContain(
      `<image id="0" name="${'a'.repeat(64)}.png" subset="validation" width="3" height="2">\n` +
        '    <mask label="person" source="manual" occluded="0" rle="0, 2" left="1" top="0" width="2" height="1" z_order="0">\n' +
        '    </mask>\n' +
        '  </image>',
    );
  });

  it('mask folder: a grey PNG of class ids, the manifest and the class names', async () => {
    const files = maskFolderFiles(dataset, [item(binary3x2(), 'a')]);
    const byPath = new Map(files.map((f) => [f.path, new TextDecoder().decode(f.bytes)]));
    expect(byPath.get('labels.txt')).toBe('background\nperson\n');
    expect(byPath.get('manifest.csv')).toBe(
      `image,mask,split\nimages/${'a'.repeat(64)}.png,masks/${'a'.repeat(64)}.png,train\n`,
    );
    const png = files.find((f) => f.path.startsWith('masks/'))!;
    const { default: sharp } = await import('sharp');
    expect((await sharp(png.bytes).metadata()).channels).toBe(1);
    const { data } = await sharp(png.bytes).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([...data]).toEqual([0, 1, 1, 0, 0, 0]);
  });
});

describe('COCO categories and annotations by task', () => {
  it('semantic: one annotation per class present, the class id as category id, background left out', () => {
    // 4x3, columns: sky | background | road | road. Column-major: sky = 1 1 1 then 9 zeros: runs 0, 3, 9 ->
    // "039"; road = 6 zeros then 6 ones: runs 6, 6 -> "66".
    const labels = ['background', 'sky', 'road'];
    const label = classMapLabel('semantic', labels, 4, 3, [1, 0, 2, 2, 1, 0, 2, 2, 1, 0, 2, 2]);
    const documents = cocoDocuments({ name: 'streets', task: 'semantic', labels }, 'v', [item(label, 'b')]);
    expect(documents.train.categories.map((c) => [c.id, c.name])).toEqual([
      [1, 'sky'],
      [2, 'road'],
    ]);
    expect(
      documents.train.annotations.map((a) => [a.category_id, a.segmentation.counts, a.area, a.bbox]),
    ).toEqual([
      [1, '039', 3, [0, 0, 1, 3]],
      [2, '66', 6, [2, 0, 2, 3]],
    ]);
  });

  it("instance: COCO's official ids when the classes are COCO's, one annotation per instance, overlaps kept", async () => {
    const { COCO_CATEGORIES } = await import('../../src/serving/coco-categories.js');
    const labels = COCO_CATEGORIES.map(([name]) => name);
    const whole = toCompressedRle({ width: 2, height: 2, data: Uint8Array.from([1, 1, 1, 1]) });
    const corner = toCompressedRle({ width: 2, height: 2, data: Uint8Array.from([1, 0, 0, 0]) });
    const frisbee = labels.indexOf('frisbee');
    const label = makeDocument('instance', 2, 2, labels, [
      { class_id: 0, rle: whole },
      { class_id: frisbee, rle: corner },
    ]);
    const documents = cocoDocuments({ name: 'coco', task: 'instance', labels }, 'v', [item(label, 'c')]);
    expect(documents.train.categories).toHaveLength(80);
    // frisbee is class 29 and COCO category 34, not 30.
    expect(documents.train.annotations.map((a) => [a.category_id, a.area])).toEqual([
      [1, 4],
      [34, 1],
    ]);
  });

  it('refuses a mask folder of instance labels, which may overlap', () => {
    const label = makeDocument('instance', 2, 2, ['cat'], []);
    let caught: unknown;
    try {
      maskFolderFiles({ name: 'pets', task: 'instance', labels: ['cat'] }, [item(label, 'd')]);
    } catch (error) {
      caught = error;
    }
    expect(isSegserveError(caught) && caught.code).toBe('INVALID_ARGUMENT');
  });
});

describe('splits by image hash', () => {
  it('puts an image in validation when its hash prefix is below the fraction of 2^32', () => {
    // 0x33333333 / 2^32 = 0.2 - 1.9e-10: validation; 0x33333334 / 2^32 is just above 0.2: train.
    expect(splitOf(`33333333${'0'.repeat(56)}`)).toBe('validation');
    expect(splitOf(`33333334${'0'.repeat(56)}`)).toBe('train');
    expect(splitOf(`00000000${'f'.repeat(56)}`)).toBe('validation');
    expect(splitOf(`ffffffff${'0'.repeat(56)}`)).toBe('train');
  });
});
