/**
 * `npm run bench:training`: the reference trainer on ISBI 2012 (../shared), slices 0-7 trained, 8-9 validated,
 * with the budget the end-to-end test uses (base-8 U-Net, 200 iterations of 4 random 256x256 crops, 10 epochs):
 * training throughput (crops per second), CPU and wall time, and when the issue's thresholds (pixel accuracy
 * >= 0.88 and membrane Dice >= 0.72 on slices 8-9) are first met, by the epochs' validation. Then a short run
 * with 1 thread against the same with 2 threads, in the same process one after the other: what the second core
 * buys. Needs Debian's python3-torch.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonOf, runTrainer, type TrainerOutcome } from '../src/learning/training/trainer.js';
import { ISBI, isbiMaskFolder } from '../test/helpers/isbi.js';
import { hasShared } from '../test/helpers/shared-paths.js';
import { table } from './stats.js';

const THRESHOLDS = { pixel_accuracy: 0.88, membrane_dice: 0.72 };
const COMMON = ['--base', '8', '--seed', '0'];

type Epoch = TrainerOutcome['epochs'][number] & {
  iteration: number;
  seconds: number;
  val: { pixel_accuracy: number; dice: Record<string, number | null> };
};

async function train(data: string, dir: string, name: string, args: string[]): Promise<TrainerOutcome> {
  const started = performance.now();
  const outcome = await runTrainer('unet', ['--data', data, '--out', join(dir, name), ...COMMON, ...args], {
    onEvent: (event) => {
      if (event.event === 'epoch') {
        const seconds = ((performance.now() - started) / 1000).toFixed(0);
        process.stderr.write(`  ${name}: epoch ${event.epoch}/${event.epochs} (${seconds} s)\n`);
      }
    },
  });
  return outcome;
}

function firstMeeting(epochs: Epoch[]): Epoch | undefined {
  return epochs.find(
    (e) =>
      e.val.pixel_accuracy >= THRESHOLDS.pixel_accuracy &&
      (e.val.dice.membrane ?? 0) >= THRESHOLDS.membrane_dice,
  );
}

export async function benchTraining(): Promise<string> {
  if (!hasShared(ISBI, 'labeled'))
    return 'training: skipped (../shared/datasets/isbi2012-membrane is missing)';
  if (spawnSync(pythonOf(), ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    return `training: skipped (no PyTorch in ${pythonOf()}: apt-get install python3-torch)`;
  }
  const dir = await mkdtemp(join(tmpdir(), 'segserve-bench-train-'));
  try {
    const data = await isbiMaskFolder(join(dir, 'isbi'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], (slice) =>
      slice < 8 ? 'train' : 'val',
    );
    const full = await train(data, dir, 'full', ['--iterations', '200', '--epochs', '10', '--threads', '2']);
    const epochs = full.epochs as Epoch[];
    const met = firstMeeting(epochs);
    const final = epochs[epochs.length - 1];
    const done = full.done;
    const short = ['--iterations', '24', '--epochs', '1'];
    const one = (await train(data, dir, 'threads-1', [...short, '--threads', '1'])).done;
    const two = (await train(data, dir, 'threads-2', [...short, '--threads', '2'])).done;
    return [
      'training (ISBI slices 0-7, validated on 8-9; base-8 U-Net, 200 iterations x 4 crops of 256x256):',
      table(
        ['', 'value'],
        [
          ['crops per second (training steps only)', done.images_per_s.toFixed(2)],
          [
            'wall s / CPU s (whole run, validation and export included)',
            `${done.wall_s.toFixed(0)} / ${done.cpu_s.toFixed(0)}`,
          ],
          [
            'final pixel accuracy / membrane Dice',
            `${final.val.pixel_accuracy.toFixed(4)} / ${(final.val.dice.membrane ?? 0).toFixed(4)}`,
          ],
          [
            `thresholds (>= ${THRESHOLDS.pixel_accuracy} / >= ${THRESHOLDS.membrane_dice}) first met`,
            met ? `epoch ${met.epoch}, iteration ${met.iteration}, ${met.seconds.toFixed(0)} s` : 'not met',
          ],
          [
            'throughput, 2 threads / 1 thread (24 iterations each)',
            `${(two.images_per_s / one.images_per_s).toFixed(2)}x (${two.images_per_s.toFixed(2)} / ${one.images_per_s.toFixed(2)} crops/s)`,
          ],
        ],
      ),
    ].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await benchTraining());
}
