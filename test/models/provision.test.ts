/** First-run provisioning: an empty repository gets the person model from the installed npm package. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { intersectionOverUnion } from '../../src/eval/iou.js';
import { ModelRepository } from '../../src/models/index.js';
import { provisionEmptyRepository } from '../../src/models/provision.js';
import type { SemanticResult } from '../../src/tasks/types.js';
import { HUMAN_SEG, readPersonMask } from '../helpers/datasets.js';
import { segment } from '../helpers/serving.js';
import { hasShared } from '../helpers/shared.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'segserve-provision-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('provisionEmptyRepository', () => {
  it('imports the person model into a missing folder and serves it', async () => {
    const dir = join(await tempDir(), 'models');
    const outcome = await provisionEmptyRepository(dir);
    expect(outcome).toMatchObject({ provisioned: true, model: 'person' });
    expect(await readdir(join(dir, 'person'))).toEqual(expect.arrayContaining(['config.yaml', '1']));
    expect(await readFile(join(dir, 'person', 'config.yaml'), 'utf8')).toMatch(/Apache-2\.0/);
    const repository = await ModelRepository.open(dir);
    try {
      const status = repository.get('person');
      expect(status?.state, status?.error?.message).toBe('ready');
      expect(status?.labels).toEqual(['background', 'person']);
      if (!hasShared('datasets', 'human-segmentation')) {
        console.warn('SKIPPED the person-mask check: ../shared/datasets/human-segmentation is missing');
        return;
      }
      const seg = await segment(repository, 'person', await readFile(join(HUMAN_SEG, 'images', '1.jpg')));
      const result = seg.result as SemanticResult;
      const truth = await readPersonMask(join(HUMAN_SEG, 'masks', '1.png'), result.width, result.height);
      expect(intersectionOverUnion(result.classMap, truth)).toBeGreaterThan(0.8);
    } finally {
      await repository.close();
    }
  });

  it('leaves a repository that already has a model alone', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'mine'));
    await writeFile(join(dir, 'mine', 'config.yaml'), 'task: binary\n');
    expect(await provisionEmptyRepository(dir)).toEqual({ provisioned: false });
    expect(await readdir(dir)).toEqual(['mine']);
  });

  it('treats a folder without any config.yaml as empty', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'notes'));
    expect(await provisionEmptyRepository(dir)).toMatchObject({ provisioned: true, model: 'person' });
  });
});
