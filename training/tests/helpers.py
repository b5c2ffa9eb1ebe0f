"""Shared by the tests: run the trainer as the Node side will, build tiny datasets, find ../shared."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

TRAINING = Path(__file__).resolve().parent.parent
REPOSITORY = TRAINING.parent


def run_trainer(*args, env=None, timeout=600):
    """(exit code, protocol events, stderr) of `python -m segserve_train ...`; fails on a non-JSON stdout line."""
    process = subprocess.run([sys.executable, '-m', 'segserve_train', *map(str, args)], capture_output=True,
                             text=True, timeout=timeout,
                             env={**os.environ, 'PYTHONPATH': str(TRAINING), **(env or {})})
    events = [json.loads(line) for line in process.stdout.splitlines()]
    return process.returncode, events, process.stderr


def skip(test, reason):
    """Skips that say so on stderr as well, so a run without the data never reads as a pass."""
    print(f'SKIPPED {test.id()}: {reason}', file=sys.stderr, flush=True)
    test.skipTest(reason)


def ort_check(test, out, *sizes):
    """ort_check.mjs's answer on an output folder: the model run by onnxruntime-node, as segserve serves it."""
    node = shutil.which('node')
    if node is None or not (REPOSITORY / 'node_modules' / 'onnxruntime-node').exists():
        skip(test, 'node or node_modules/onnxruntime-node is missing (run npm ci): ONNX not run in onnxruntime')
    process = subprocess.run([node, str(Path(__file__).with_name('ort_check.mjs')), str(out), *sizes],
                             capture_output=True, text=True, timeout=300, check=True)
    return json.loads(process.stdout)


def shared_candidate():
    """SEGSERVE_SHARED, else ../shared beside the repository."""
    return Path(os.environ.get('SEGSERVE_SHARED') or REPOSITORY.parent / 'shared')


def shared_dir():
    """shared_candidate() when it is a folder, else None."""
    path = shared_candidate()
    return path if path.is_dir() else None


def write_mask_folder(folder, labels, items):
    """A mask-folder export: items are (name, image array, mask array, split)."""
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    (folder / 'masks').mkdir(exist_ok=True)
    lines = ['image,mask,split']
    for name, image, mask, split in items:
        Image.fromarray(image).save(folder / 'images' / f'{name}.png')
        Image.fromarray(mask).save(folder / 'masks' / f'{name}.png')
        lines.append(f'images/{name}.png,masks/{name}.png,{split}')
    (folder / 'manifest.csv').write_text('\n'.join(lines) + '\n')
    (folder / 'labels.txt').write_text('\n'.join(labels) + '\n')
    return folder


def synthetic_scene(rng, size, classes, grey):
    """Bright discs (class 1) and dark squares (class 2 when there are 3 classes) on a noisy middle grey."""
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    mask = np.zeros(size, dtype=np.uint8)
    for _ in range(3):
        cy, cx, r = rng.integers(0, size[0]), rng.integers(0, size[1]), rng.integers(4, 10)
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
        if classes > 2:
            y0, x0 = rng.integers(0, size[0] - 8), rng.integers(0, size[1] - 8)
            mask[y0:y0 + 8, x0:x0 + 8] = 2
    levels = np.array([120, 220, 30][:classes], dtype=np.float64)
    grey_image = np.clip(levels[mask] + rng.normal(0, 12, size), 0, 255).astype(np.uint8)
    if grey:
        return grey_image, mask
    tint = np.array([1.0, 0.9, 0.8])
    return np.clip(grey_image[:, :, None] * tint, 0, 255).astype(np.uint8), mask


def tiny_dataset(folder, classes=2, grey=True, train=4, val=2, size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    labels = ['background', 'disc', 'square'][:classes]
    items = [(f'{split}{i}', *synthetic_scene(rng, size, classes, grey), split)
             for split, n in (('train', train), ('val', val)) for i in range(n)]
    return write_mask_folder(folder, labels, items)


def isbi_mask_folder(source, out, train=range(8), val=(8, 9)):
    """ISBI 2012's labelled slices as a mask-folder export: classes [background, membrane], membrane being the
    0 pixels of the original masks (255 = cell interior)."""
    source = Path(source)
    items = []
    for split, indices in (('train', train), ('val', val)):
        for i in indices:
            image = np.asarray(Image.open(source / 'images' / f'{i}.png').convert('L'))
            original = np.asarray(Image.open(source / 'masks' / f'{i}.png').convert('L'))
            items.append((f'slice{i}', image, (original < 128).astype(np.uint8), split))
    return write_mask_folder(out, ['background', 'membrane'], items)


if __name__ == '__main__':
    # python3 training/tests/helpers.py ISBI_LABELED_FOLDER OUT: the ISBI export used by test_real.
    isbi_mask_folder(sys.argv[1], sys.argv[2])
