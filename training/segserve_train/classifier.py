"""`classifier`: the gate in front of a segmentation model ("em" slice or "other"), a ~25 k-parameter CNN on
64x64 grey images, served by segserve as a `classification` model.

Photos alone teach it "EM slice = anything that is not a photo": DESIGN.md measured such a model accepting random
noise as EM. Synthetic negatives (noise, smooth noise, blank, gradients, stripes) are mixed into every batch, and
held-out synthetic images are scored beside the real ones. Noise is the hard case: an EM slice resized to 64x64
without antialiasing (as the server resizes) is grainy, and noise of the slices' own grey level and contrast was
accepted as EM by 15-27 % of early models here. So half the noise ("matched_noise") takes the mean and standard
deviation of a random training positive, which leaves the model only structure to tell them apart.

Each --positives/--negatives folder is split once, the same way on every run (not by --seed): a fixed quarter
(--holdout) is held out for the accuracies in report.json. Held-out images are scored as the server will see them:
the whole image, read as RGB and resized to 64x64 by segserve's bilinear kernel.
"""
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import (Clock, StagedOutput, code_version, export_onnx, image_files, parameter_count, parity_record,
                     read_rgb, resize_like_server, set_determinism, to_tensor, write_json, yaml_value)
from .protocol import TrainError, emit
from .unet import Probabilities

SIZE = 64
SCALE = 1 / 255
SYNTHETIC_KINDS = ('noise', 'matched_noise', 'smooth_noise', 'blank', 'gradient', 'stripes')
SYNTHETIC_HELDOUT_PER_KIND = 40


class GateNet(nn.Module):
    """Four conv-BN-ReLU-pool blocks (64 -> 4 pixels), global average pooling, one linear layer. 24.6 k parameters."""

    def __init__(self, classes=2, widths=(8, 16, 32, 64)):
        super().__init__()
        layers, cin = [], 1
        for width in widths:
            layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        # The server always sends 3 channels (grey images as R = G = B); the model looks at grey only. Training
        # feeds 1 channel, whose mean is itself.
        x = x.mean(dim=1, keepdim=True)
        return self.head(self.features(x).mean(dim=(2, 3)))


def add_arguments(parser):
    parser.add_argument('--positives', action='append', required=True, help='folder of positive images (repeatable)')
    parser.add_argument('--negatives', action='append', default=[], help='folder of negative images (repeatable)')
    parser.add_argument('--out', required=True, help='output folder; must not exist or be empty')
    parser.add_argument('--positive-label', default='em')
    parser.add_argument('--negative-label', default='other')
    parser.add_argument('--iterations', type=int, default=600, help='training budget in iterations')
    parser.add_argument('--epochs', type=int, default=10, help='held-out scoring rounds over the iterations')
    parser.add_argument('--batch', type=int, default=32, help='images per iteration, half of them positives')
    parser.add_argument('--lr', type=float, default=3e-3, help='Adam learning rate, decayed to 0 by a cosine')
    parser.add_argument('--synthetic-fraction', type=float, default=0.5,
                        help='share of the negatives in a batch that are synthetic (0 turns them off)')
    parser.add_argument('--holdout', type=float, default=0.25, help='share of each folder held out for scoring')
    parser.add_argument('--dataset-version', default=None, help='recorded in report.json')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)


def load_folders(folders, label, holdout):
    """(train greys, held-out [(folder, file name, 64x64 RGB as the server resizes)]) of the folders of one class."""
    train, heldout = [], []
    for folder in folders:
        files = image_files(folder)
        if not files:
            raise TrainError('EMPTY_DATASET', f'{folder} holds no images ({label})')
        order = np.random.default_rng(0).permutation(len(files))
        held = set(order[:round(holdout * len(files))].tolist()) if len(files) > 1 else set()
        for index, path in enumerate(files):
            rgb = read_rgb(path, str(path))
            if index in held:
                heldout.append((str(folder), path.name, resize_like_server(rgb, SIZE, SIZE)))
            else:
                # Kept at full size: the crops are cut from it and resized the way the server resizes.
                train.append(np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8))
    return train, heldout


def augmented(grey, rng):
    """A random crop (or, a third of the time, the whole image) resized to 64x64, flipped, rotated, jittered."""
    h, w = grey.shape
    if rng.random() < 1 / 3:
        y0, x0, ch, cw = 0, 0, h, w
    else:
        ch, cw = max(1, int(h * rng.uniform(0.5, 1))), max(1, int(w * rng.uniform(0.5, 1)))
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    x = torch.from_numpy(np.ascontiguousarray(grey[y0:y0 + ch, x0:x0 + cw])).float()[None, None] * SCALE
    x = F.interpolate(x, size=(SIZE, SIZE), mode='bilinear', align_corners=False)[0, 0]
    if rng.random() < 0.5:
        x = x.flip(1)
    x = torch.rot90(x, int(rng.integers(4)))
    contrast, brightness = rng.uniform(0.7, 1.4), rng.uniform(-0.1, 0.1)
    return ((x - x.mean()) * contrast + x.mean() + brightness).clamp(0, 1)


def synthetic(kind, rng, positive_stats):
    """One 64x64 synthetic negative, 0..1. `positive_stats`: (mean, std) of each training positive at 64x64."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    level, spread = rng.uniform(0, 1), rng.uniform(0.05, 0.5)
    if kind == 'matched_noise':
        mean, std = positive_stats[rng.integers(len(positive_stats))]
        level, spread = mean + rng.uniform(-0.05, 0.05), std * rng.uniform(0.7, 1.4)
    if kind in ('noise', 'matched_noise'):
        x = level + spread * (rng.standard_normal((SIZE, SIZE)) if rng.random() < 0.5 else rng.uniform(-1, 1, (SIZE, SIZE)))
    elif kind == 'smooth_noise':
        cells = int(rng.integers(3, 33))
        low = torch.from_numpy(rng.standard_normal((1, 1, cells, cells))).float()
        x = level + spread * F.interpolate(low, size=(SIZE, SIZE), mode='bilinear', align_corners=False)[0, 0].numpy()
    elif kind == 'blank':
        x = np.full((SIZE, SIZE), level) + rng.uniform(0, 0.02) * rng.standard_normal((SIZE, SIZE))
    elif kind == 'gradient':
        angle = rng.uniform(0, 2 * math.pi)
        ramp = math.cos(angle) * xx + math.sin(angle) * yy
        ramp = (ramp - ramp.min()) / max(ramp.max() - ramp.min(), 1e-6)
        x = level + (rng.uniform(0, 1) - level) * ramp
    else:  # stripes or, with a second wave, a checkerboard
        angle, frequency = rng.uniform(0, math.pi), rng.uniform(1, 16)
        x = np.sin(2 * math.pi * frequency * (math.cos(angle) * xx + math.sin(angle) * yy))
        if rng.random() < 0.5:
            x = x * np.sin(2 * math.pi * frequency * (-math.sin(angle) * xx + math.cos(angle) * yy))
        x = level + spread * x
    return torch.from_numpy(np.clip(x, 0, 1)).float()


def as_server_pixels(x):
    """A synthetic 0..1 image as the 8-bit RGB pixels the server would read."""
    grey = np.round(x.numpy() * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def score(model, items, label):
    """Accuracy and mean cross-entropy of [(group, name, 64x64 RGB uint8)] all of class `label`, and the names of
    the misclassified."""
    if not items:
        return {'accuracy': None, 'loss': None, 'count': 0, 'wrong': []}
    model.eval()
    with torch.no_grad():
        x = torch.cat([to_tensor(rgb, SCALE, [0, 0, 0], [1, 1, 1]) for _, _, rgb in items])
        logits = model(x)
    truth = torch.full((len(items),), label, dtype=torch.long)
    right = logits.argmax(1) == truth
    return {'accuracy': float(right.float().mean()), 'loss': float(F.cross_entropy(logits, truth)), 'count': len(items),
            'wrong': [name for (_, name, _), ok in zip(items, right.tolist()) if not ok]}


def config_yaml(labels, heldout, positives, negatives, parameters):
    def accuracy(entry):
        return 'n/a' if entry['accuracy'] is None else f'{entry["accuracy"]:.3f} ({entry["count"]})'
    return '\n'.join([
        f'# Gate classifier trained by segserve_train classifier: "{labels[1]}" ({", ".join(positives)}) against',
        f'# "{labels[0]}" ({", ".join(negatives) or "no folders"}, and synthetic noise, blank images, gradients, stripes).',
        f'# Held-out accuracy: {labels[1]} {accuracy(heldout["per_class"][labels[1]])}, '
        f'{labels[0]} {accuracy(heldout["per_class"][labels[0]])}, synthetic {accuracy(heldout["synthetic"])}.',
        f'# Tensors: image [1, 3, {SIZE}, {SIZE}] float32 NCHW, pixels 0..1 (the graph averages R, G, B into grey) ->',
        f'# probabilities [1, {len(labels)}] (softmax applied).',
        'task: classification',
        'decoder: softmax-classifier',
        f'description: {yaml_value(f"gate classifier {labels[1]} / {labels[0]}, {parameters / 1e3:.1f} k parameters (segserve_train)")}',
        'input:',
        f'  name: {yaml_value("image")}',
        f'  width: {SIZE}',
        f'  height: {SIZE}',
        '  resize: stretch',
        '  layout: NCHW',
        '  color: RGB',
        f'  scale: {SCALE!r}',
        '  mean: [0, 0, 0]',
        '  std: [1, 1, 1]',
        'output:',
        '  names:',
        f'    scores: {yaml_value("probabilities")}',
        '  activation: applied',
        f'labels: {yaml_value(labels)}',
        f'top_k: {len(labels)}',
        '',
    ])


def run(args):
    clock = Clock()
    if args.positive_label == args.negative_label or not args.positive_label or not args.negative_label:
        raise TrainError('BAD_OPTION', '--positive-label and --negative-label must be two different names')
    if min(args.iterations, args.epochs, args.batch, args.threads) < 1 or args.batch < 2 or args.lr <= 0 \
            or not 0 <= args.synthetic_fraction <= 1 or not 0 <= args.holdout < 1:
        raise TrainError('BAD_OPTION', '--iterations, --epochs, --threads >= 1, --batch >= 2, --lr > 0, '
                                       '--synthetic-fraction in 0..1, --holdout in 0..1 (1 excluded)')
    if not args.negatives and args.synthetic_fraction == 0:
        raise TrainError('EMPTY_DATASET', 'no negatives: give --negatives folders or keep synthetic negatives')
    set_determinism(args.seed, args.threads)
    labels = [args.negative_label, args.positive_label]
    pos_train, pos_held = load_folders(args.positives, labels[1], args.holdout)
    neg_train, neg_held = load_folders(args.negatives, labels[0], args.holdout)
    if not pos_train or (args.negatives and not neg_train):
        raise TrainError('EMPTY_DATASET', 'every class needs training images left after the hold-out')
    small = [F.interpolate(torch.from_numpy(g).float()[None, None] * SCALE, size=(SIZE, SIZE), mode='bilinear',
                           align_corners=False) for g in pos_train]
    positive_stats = [(float(x.mean()), float(x.std())) for x in small]
    held_rng = np.random.default_rng([args.seed, 1])
    synthetic_held = [(kind, f'{kind}#{i}', as_server_pixels(synthetic(kind, held_rng, positive_stats)))
                      for kind in SYNTHETIC_KINDS for i in range(SYNTHETIC_HELDOUT_PER_KIND)]
    staged = StagedOutput(args.out)

    model = GateNet(len(labels))
    parameters = parameter_count(model)
    epoch_length = math.ceil(args.iterations / args.epochs)
    epochs = math.ceil(args.iterations / epoch_length)
    emit('start', command='classifier', iterations=args.iterations, epochs=epochs, epoch_iterations=epoch_length,
         batch=args.batch, labels=labels, parameters=parameters, seed=args.seed, threads=args.threads,
         train_images={labels[1]: len(pos_train), labels[0]: len(neg_train)},
         heldout_images={labels[1]: len(pos_held), labels[0]: len(neg_held), 'synthetic': len(synthetic_held)})

    def heldout_scores():
        positive, negative = score(model, pos_held, 1), score(model, neg_held, 0)
        both = positive['count'] + negative['count']
        accuracy = None if both == 0 else sum((s['accuracy'] or 0) * s['count'] for s in (positive, negative)) / both
        return {'accuracy': accuracy, 'per_class': {labels[1]: positive, labels[0]: negative},
                'synthetic': score(model, synthetic_held, 0)}

    def compact(scores):
        return {'accuracy': scores['accuracy'], 'synthetic_accuracy': scores['synthetic']['accuracy'],
                'per_class': {label: s['accuracy'] for label, s in scores['per_class'].items()}}

    with staged as staging:
        rng = np.random.default_rng(args.seed)
        optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
        n_pos = args.batch // 2
        n_syn = round((args.batch - n_pos) * args.synthetic_fraction) if args.negatives else args.batch - n_pos
        n_neg = args.batch - n_pos - n_syn
        history, losses, train_seconds = [], [], 0.0
        for iteration in range(1, args.iterations + 1):
            started = clock.wall()
            for group in optimiser.param_groups:
                group['lr'] = args.lr * 0.5 * (1 + math.cos(math.pi * (iteration - 1) / args.iterations))
            images = [augmented(pos_train[i], rng) for i in rng.integers(len(pos_train), size=n_pos)]
            if n_neg:
                images += [augmented(neg_train[i], rng) for i in rng.integers(len(neg_train), size=n_neg)]
            images += [synthetic(SYNTHETIC_KINDS[k], rng, positive_stats)
                       for k in rng.integers(len(SYNTHETIC_KINDS), size=n_syn)]
            x = torch.stack(images)[:, None]
            y = torch.tensor([1] * n_pos + [0] * (n_neg + n_syn))
            model.train()
            loss = F.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss))
            train_seconds += clock.wall() - started
            if iteration % epoch_length == 0 or iteration == args.iterations:
                record = {'epoch': len(history) + 1, 'epochs': epochs, 'iteration': iteration,
                          'iterations': args.iterations, 'loss': float(np.mean(losses)),
                          'lr': optimiser.param_groups[0]['lr'], 'val': compact(heldout_scores()),
                          'seconds': clock.wall(), 'images_per_s': iteration * args.batch / train_seconds}
                history.append(record)
                losses = []
                emit('epoch', **record)

        final = heldout_scores()
        # The same scores per folder (as given on the command line) and per kind of synthetic image.
        by_folder = {folder: score(model, [it for it in items if it[0] == folder], label)
                     for items, label, folders in ((pos_held, 1, args.positives), (neg_held, 0, args.negatives))
                     for folder in map(str, folders)}
        by_kind = {kind: score(model, [it for it in synthetic_held if it[0] == kind], 0)['accuracy']
                   for kind in SYNTHETIC_KINDS}

        model.eval()
        exported = Probabilities(model).eval()
        export_onnx(exported, torch.zeros(1, 3, SIZE, SIZE), staging / 'model.onnx',
                    {'image': {0: 'batch'}, 'probabilities': {0: 'batch'}})
        if pos_held:
            source, rgb = f'{pos_held[0][0]}/{pos_held[0][1]} (held out)', pos_held[0][2]
        else:
            source, rgb = 'a training positive', resize_like_server(np.repeat(pos_train[0][:, :, None], 3, 2), SIZE, SIZE)
        write_json(staging / 'parity.json', parity_record(exported, rgb, SCALE, [0, 0, 0], [1, 1, 1], source, args.seed))
        torch.save({'format': 'segserve-gate/1', 'state_dict': model.state_dict(), 'labels': labels},
                   staging / 'model.pt')
        (staging / 'labels.txt').write_text('\n'.join(labels) + '\n')
        (staging / 'config.yaml').write_text(config_yaml(labels, final, args.positives, args.negatives, parameters))
        metrics = {**compact(final), 'synthetic_by_kind': by_kind}
        report = {
            'command': 'classifier',
            'options': {k: v for k, v in vars(args).items() if k != 'handler'},
            'model': {'architecture': 'gatenet', 'parameters': parameters, 'labels': labels,
                      'input': {'width': SIZE, 'height': SIZE}, 'task': 'classification'},
            'dataset': {'positives': [str(Path(p).resolve()) for p in args.positives],
                        'negatives': [str(Path(p).resolve()) for p in args.negatives], 'version': args.dataset_version,
                        'train_images': {labels[1]: len(pos_train), labels[0]: len(neg_train)}},
            'code': {**code_version(), 'torch': torch.__version__},
            'budget': {'iterations': args.iterations, 'epoch_iterations': epoch_length, 'epochs': epochs,
                       'batch': args.batch, 'lr': args.lr, 'schedule': 'cosine', 'seed': args.seed,
                       'threads': args.threads, 'synthetic_per_batch': n_syn},
            'epochs': history,
            'heldout': {**final, 'by_folder': by_folder, 'synthetic_by_kind': by_kind},
            'final': {'epoch': history[-1]['epoch'], 'val': compact(final)},
            'timing': {'wall_s': clock.wall(), 'cpu_s': clock.cpu(), 'train_s': train_seconds,
                       'images_per_s': args.iterations * args.batch / train_seconds},
        }
        write_json(staging / 'report.json', report)
    emit('done', out=str(staged.out), metrics=metrics, wall_s=report['timing']['wall_s'],
         cpu_s=report['timing']['cpu_s'], images_per_s=report['timing']['images_per_s'])
    return 0
