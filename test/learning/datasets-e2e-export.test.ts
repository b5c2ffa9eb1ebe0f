/**
 * The export half of the end-to-end test, on real data: photos of ../shared/datasets/human-segmentation
 * with the dataset's own masks submitted as their labels (stored as a submission stores them: the image by its
 * content, the label document of the mask), a version snapshotted, exported to COCO and to mask PNGs, and both
 * exports read back equal to the submitted masks pixel for pixel. The full loop (predictions sampled, the queue
 * sorted by uncertainty, labels submitted through /v1/annotations) calls exportAndDecodeClassMaps the same way.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeImage } from '../../src/image/index.js';
import { snapshotDataset } from '../../src/learning/datasets/index.js';
import { exportAndDecodeClassMaps } from '../helpers/dataset-exports.js';
import { addItem, classMapLabel, openTestStores, type TestStores } from '../helpers/dataset-stores.js';
import { readHumanManifest, readPersonMask } from '../helpers/datasets.js';
import { describeWithShared } from '../helpers/shared.js';

const PERSON = ['background', 'person'];
let stores: TestStores;

beforeAll(async () => {
  stores = await openTestStores();
});

afterAll(async () => {
  await stores?.close();
});

describeWithShared('snapshot and export of submitted human masks', ['datasets', 'human-segmentation'], () => {
  it('COCO and mask PNG exports decode back to the submitted masks pixel for pixel', async () => {
    const submitted = new Map<string, Uint8Array>();
    // Every eighth photo: 29 images, masks of both sizes (smaller than the photo and not), grey and colour JPEGs.
    const samples = (await readHumanManifest()).filter((_, i) => i % 8 === 0);
    for (const sample of samples) {
      const image = new Uint8Array(await readFile(sample.image));
      const { orientedWidth: width, orientedHeight: height } = await probeImage(image, 50_000_000);
      const mask = await readPersonMask(sample.mask, width, height);
      await addItem(stores, 'people', image, classMapLabel('binary', PERSON, width, height, [...mask]));
      submitted.set(createHash('sha256').update(image).digest('hex'), mask);
    }
    const { version } = await snapshotDataset(stores.db, stores.blobs, 'people');
    expect(version.items).toBe(samples.length);
    const decoded = await exportAndDecodeClassMaps(stores, 'people', version.id, stores.dir);
    for (const format of ['coco', 'masks'] as const) {
      expect([...decoded[format].keys()].sort(), format).toEqual([...submitted.keys()].sort());
      for (const [sha, mask] of submitted) {
        const back = decoded[format].get(sha)!;
        // toEqual on 300k-pixel arrays reports badly; count the differing pixels instead.
        let differing = 0;
        for (let i = 0; i < mask.length; i++) if (back[i] !== mask[i]) differing++;
        expect(back.length, `${format} ${sha}`).toBe(mask.length);
        expect(differing, `${format} ${sha}`).toBe(0);
      }
    }
  });
});
