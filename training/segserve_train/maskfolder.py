"""Reads and checks a segserve mask-folder export (src/learning/datasets/export/mask-folder.ts):

    manifest.csv   image,mask,split   (paths relative to the folder; split train | val | test, where
                   `validation`, as segserve's own export writes it, is val)
    images/...     the images
    masks/...      8-bit grey PNGs, each pixel's value its class id (0 = background)
    labels.txt     class names, line n = class id n

Every image and mask is read and checked before training starts, so bad input costs seconds, not a run. The
whole dataset is held in memory (uint8), which the datasets this trainer is for fit easily.
"""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .common import read_rgb
from .protocol import TrainError

HEADER = ['image', 'mask', 'split']
SPLITS = ('train', 'val', 'test')
# segserve's dataset versions name the split `validation` (src/learning/datasets/manifest.ts).
SPLIT_NAMES = {'train': 'train', 'val': 'val', 'validation': 'val', 'test': 'test'}


@dataclass
class Sample:
    name: str
    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # uint8 [H, W], class ids
    split: str


def read_labels(folder):
    path = folder / 'labels.txt'
    try:
        lines = path.read_text(encoding='utf-8').splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TrainError('BAD_LABELS', f'cannot read labels.txt: {error}') from None
    while lines and lines[-1].strip() == '':
        lines.pop()
    labels = [line.strip() for line in lines]
    if len(labels) < 2:
        raise TrainError('BAD_LABELS', f'labels.txt names {len(labels)} class(es); a segmentation needs at least 2 '
                                       '(line 1 is class 0, the background)')
    if '' in labels:
        raise TrainError('BAD_LABELS', f'labels.txt line {labels.index("") + 1} is empty')
    twice = next((label for i, label in enumerate(labels) if label in labels[:i]), None)
    if twice is not None:
        raise TrainError('BAD_LABELS', f'labels.txt names "{twice}" twice')
    if len(labels) > 255:
        raise TrainError('BAD_LABELS', f'labels.txt names {len(labels)} classes; 8-bit masks hold at most 255')
    return labels


def read_manifest(folder):
    path = folder / 'manifest.csv'
    try:
        with open(path, newline='', encoding='utf-8') as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TrainError('BAD_MANIFEST', f'cannot read manifest.csv: {error}') from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        raise TrainError('BAD_MANIFEST', f'manifest.csv must start with the header line "{",".join(HEADER)}"')
    entries = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 3:
            raise TrainError('BAD_MANIFEST', f'manifest.csv line {number} has {len(row)} fields, not 3')
        image, mask, split = (cell.strip() for cell in row)
        if split not in SPLIT_NAMES:
            raise TrainError('BAD_MANIFEST', f'manifest.csv line {number}: split "{split}" is not one of '
                                             f'{", ".join(SPLIT_NAMES)}')
        split = SPLIT_NAMES[split]
        for relative in (image, mask):
            resolved = (folder / relative).resolve()
            if Path(relative).is_absolute() or folder.resolve() not in resolved.parents:
                raise TrainError('BAD_MANIFEST', f'manifest.csv line {number}: "{relative}" is not inside the dataset folder')
        entries.append((image, mask, split))
    return entries


def read_mask(folder, relative):
    try:
        with Image.open(folder / relative) as mask:
            mode = mask.mode
            # A palette PNG's pixel values are palette indices, which PIL gives back as they are: class ids too.
            if mode not in ('L', 'P'):
                raise TrainError('BAD_MASK', f'mask {relative} is a {mode} image; masks are 8-bit grey PNGs whose '
                                             'value is the class id')
            return np.array(mask, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TrainError('UNREADABLE_FILE', f'cannot read mask {relative}: {error}') from None


def load_mask_folder(folder, option='--data', splits=('train', 'val')):
    """(labels, samples) of a checked dataset that has images in each of `splits`; raises TrainError on the
    first problem, naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError('DATASET_NOT_FOUND', f'{option} {folder} is not a folder')
    labels = read_labels(folder)
    entries = read_manifest(folder)
    if not entries:
        raise TrainError('EMPTY_DATASET', f'{option}: manifest.csv lists no images')
    for split in splits:
        if not any(e[2] == split for e in entries):
            raise TrainError(f'NO_{split.upper()}_SPLIT', f'{option}: manifest.csv has no image in the {split} split '
                                                          '(train for training, val for the metrics of each epoch)')
    samples = []
    for image_path, mask_path, split in entries:
        image = read_rgb(folder / image_path, image_path)
        mask = read_mask(folder, mask_path)
        if mask.shape != image.shape[:2]:
            raise TrainError('MASK_SIZE_MISMATCH', f'mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image '
                                                   f'{image_path} is {image.shape[1]}x{image.shape[0]}')
        present = np.unique(mask)
        unknown = present[present >= len(labels)]
        if unknown.size:
            values = ', '.join(str(v) for v in unknown[:10]) + (', ...' if unknown.size > 10 else '')
            raise TrainError('MASK_VALUES', f'mask {mask_path} holds values {values}, which are not class ids of '
                                            f'labels.txt (0..{len(labels) - 1}: {", ".join(labels)})')
        samples.append(Sample(image_path, image, mask, split))
    return labels, samples
