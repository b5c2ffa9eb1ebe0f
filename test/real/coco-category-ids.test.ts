/**
 * yolov8n-seg on a COCO val2017 image of a person with a ball: COCO results carry COCO's own category ids by
 * default (sports ball 37, not its class index + 1 = 33), the ids of the dataset's instances file. The one frisbee
 * of the mini set (000000343803.jpg, 1.5k pixels) is not found at 320x320, so the unit test covers frisbee -> 34.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModelRepository } from '../../src/models/index.js';
import { categoryMapping } from '../../src/serving/category-ids.js';
import { toCocoResults } from '../../src/serving/encode.js';
import type { CocoResult } from '../../src/serving/types.js';
import { COCO_MINI, type CocoDataset, readCocoMini } from '../helpers/datasets.js';
import { REPOSITORY_DIR } from '../helpers/paths.js';
import { segment } from '../helpers/serving.js';
import { describeWithShared } from '../helpers/shared.js';

const IMAGE = '000000153797.jpg';

describeWithShared('COCO category ids (yolov8n-seg, real image)', ['datasets', 'coco-val2017-mini'], () => {
  let repository: ModelRepository;
  let dataset: CocoDataset;
  let results: CocoResult[];
  let kind: string;

  beforeAll(async () => {
    repository = await ModelRepository.open(REPOSITORY_DIR, { models: ['yolov8n-seg'] });
    dataset = await readCocoMini();
    const loaded = repository.resolve('yolov8n-seg');
    const mapping = categoryMapping(loaded.labels);
    kind = mapping.kind;
    const seg = await segment(repository, 'yolov8n-seg', await readFile(join(COCO_MINI, 'images', IMAGE)));
    results = toCocoResults(seg, 153797, IMAGE, mapping);
  });
  afterAll(() => repository?.close());

  it("uses COCO's official ids: sports ball 37, person 1, every id the dataset's for that name", () => {
    expect(kind).toBe('coco');
    const byName = new Map(dataset.categories.map((c) => [c.name, c.id]));
    const found = new Map(results.map((r) => [r.category_name, r.category_id]));
    console.log(`categories found: ${[...found].map(([n, id]) => `${n}=${id}`).join(', ')}`);
    expect(found.get('sports ball')).toBe(37);
    expect(found.get('person')).toBe(1);
    for (const r of results) expect(r.category_id, r.category_name).toBe(byName.get(r.category_name));
  });
});
