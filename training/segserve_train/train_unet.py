"""`unet`: trains (or fine-tunes, with --init) a U-Net on a mask-folder export and writes a segserve model.

Training draws random crops; the budget is counted in iterations (one optimiser step on --batch crops), because
shared machines run 3-4x slower at times and a time budget would train a different model each time. An epoch is
a fixed number of iterations, by default as many as it takes the crops to add up to the training pixels once;
the validation split is scored at the end of each epoch on whole images.
"""
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .common import (Clock, StagedOutput, code_version, export_onnx, parameter_count, parity_record,
                     resize_like_server, set_determinism, to_tensor, write_json, yaml_value)
from .maskfolder import load_mask_folder
from .protocol import TrainError, emit, log
from .unet import Probabilities, UNet

CHECKPOINT_FORMAT = 'segserve-unet/1'
DEFAULT_EPOCHS = 25
# Crop pixels outside a too-small image: the loss skips them.
IGNORE = 255
# The pixel scale of config.yaml: 0..255 -> 0..1. mean/std are then measured on the training images.
SCALE = 1 / 255


def add_arguments(parser):
    parser.add_argument('--data', required=True, help='mask-folder export (manifest.csv, images/, masks/, labels.txt)')
    parser.add_argument('--out', required=True, help='output folder; must not exist or be empty')
    parser.add_argument('--dataset-version', default=None, help='recorded in report.json')
    parser.add_argument('--base', type=int, default=None, help='channels of the first level (default 16)')
    parser.add_argument('--depth', type=int, default=None, help='resolution levels (default 4)')
    parser.add_argument('--crop', type=int, default=256, help='training crop side in pixels')
    parser.add_argument('--batch', type=int, default=4, help='crops per iteration')
    parser.add_argument('--iterations', type=int, default=None, help='training budget in iterations')
    parser.add_argument('--epochs', type=int, default=None, help=f'epochs (default {DEFAULT_EPOCHS} when no --iterations)')
    parser.add_argument('--time-budget-s', type=float, default=None,
                        help='stop early when training has run this long (the iteration budget still sets the schedule)')
    parser.add_argument('--lr', type=float, default=1e-3, help='Adam learning rate, decayed to 0 by a cosine')
    parser.add_argument('--no-flip', action='store_true', help='no random horizontal/vertical flips')
    parser.add_argument('--no-rotate', action='store_true', help='no random 90-degree rotations')
    parser.add_argument('--no-jitter', action='store_true', help='no brightness/contrast jitter')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--init', default=None, help='model.pt of an earlier run to fine-tune from')
    parser.add_argument('--val-data', default=None,
                        help='a mask folder to validate on (every image in it) instead of the val split of --data, '
                             'whose train and val images then all train')
    parser.add_argument('--model-input', default=None,
                        help='JSON {width, height, scale, mean, std}: the input of an existing model this run makes a '
                             'version of; trains with that normalisation instead of measuring one')


def load_checkpoint(path, labels, base, depth):
    try:
        checkpoint = torch.load(path, map_location='cpu')
    except Exception as error:  # torch.load raises many kinds (pickle, zip, OS)
        raise TrainError('BAD_CHECKPOINT', f'cannot read --init {path}: {error}') from None
    if not isinstance(checkpoint, dict) or checkpoint.get('format') != CHECKPOINT_FORMAT:
        raise TrainError('BAD_CHECKPOINT', f'--init {path} is not a model.pt written by segserve_train unet')
    if checkpoint['labels'] != labels:
        raise TrainError('BAD_CHECKPOINT', f'--init {path} was trained on classes {checkpoint["labels"]}, '
                                           f'but labels.txt names {labels}')
    for name, given in (('base', base), ('depth', depth)):
        if given is not None and given != checkpoint['arch'][name]:
            raise TrainError('BAD_CHECKPOINT', f'--{name} {given} differs from the --init checkpoint\'s {checkpoint["arch"][name]}')
    return checkpoint


def normalisation_of(images):
    """Per-channel mean and std of the training pixels (after SCALE), rounded so config.yaml holds exactly the
    values training used."""
    total = sum(image.shape[0] * image.shape[1] for image in images)
    sums = sum(image.reshape(-1, 3).sum(axis=0, dtype=np.float64) for image in images)
    squares = sum((image.reshape(-1, 3).astype(np.float64) ** 2).sum(axis=0) for image in images)
    mean = sums / total
    std = np.sqrt(np.maximum(squares / total - mean ** 2, 1e-12))
    return {'scale': SCALE, 'mean': [round(float(v * SCALE), 4) for v in mean],
            'std': [max(round(float(v * SCALE), 4), 1e-3) for v in std]}


def plan_budget(args, train, multiple):
    """(iterations, iterations per epoch, epochs). --iterations and --epochs together make epochs of
    iterations/epochs each."""
    for name in ('iterations', 'epochs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TrainError('BAD_OPTION', f'--{name} must be at least 1')
    pixels = sum(s.mask.size for s in train)
    natural = max(1, math.ceil(pixels / (args.batch * args.crop ** 2)))
    if args.iterations is not None and args.epochs is not None:
        length = math.ceil(args.iterations / args.epochs)
    else:
        length = natural
    iterations = args.iterations if args.iterations is not None else (args.epochs or DEFAULT_EPOCHS) * length
    return iterations, length, math.ceil(iterations / length)


def crop_batch(train, weights, args, norm, rng):
    """--batch random crops (images chosen in proportion to their area), augmented, as (x, y) tensors."""
    xs, ys = [], []
    for index in rng.choice(len(train), size=args.batch, p=weights):
        image, mask = train[index].image, train[index].mask
        h, w = mask.shape
        if h < args.crop or w < args.crop:
            grow = ((0, max(0, args.crop - h)), (0, max(0, args.crop - w)))
            image = np.pad(image, grow + ((0, 0),), mode='edge')
            mask = np.pad(mask, grow, constant_values=IGNORE)
            h, w = mask.shape
        y0, x0 = rng.integers(0, h - args.crop + 1), rng.integers(0, w - args.crop + 1)
        image = image[y0:y0 + args.crop, x0:x0 + args.crop]
        mask = mask[y0:y0 + args.crop, x0:x0 + args.crop]
        if not args.no_flip:
            if rng.random() < 0.5:
                image, mask = image[:, ::-1], mask[:, ::-1]
            if rng.random() < 0.5:
                image, mask = image[::-1], mask[::-1]
        if not args.no_rotate:
            k = int(rng.integers(4))
            image, mask = np.rot90(image, k), np.rot90(mask, k)
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() * norm['scale']
        if not args.no_jitter:
            # Contrast about the crop's own mean, then a brightness shift; both in the scaled 0..1 range.
            contrast, brightness = rng.uniform(0.8, 1.25), rng.uniform(-0.08, 0.08)
            level = x.mean()
            x = ((x - level) * contrast + level + brightness).clamp(0, 255 * norm['scale'])
        x = (x - torch.tensor(norm['mean'])[:, None, None]) / torch.tensor(norm['std'])[:, None, None]
        xs.append(x)
        ys.append(torch.from_numpy(np.ascontiguousarray(mask)).long())
    return torch.stack(xs), torch.stack(ys)


def metrics_of(confusion, labels, loss):
    """Rows are the truth, columns the prediction. A class absent from both has no IoU/Dice (null) and is left
    out of the means."""
    confusion = confusion.astype(np.float64)
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    present = ~np.isnan(iou)
    return {
        'loss': loss,
        'pixel_accuracy': float(tp.sum() / confusion.sum()),
        'mean_iou': float(iou[present].mean()) if present.any() else None,
        'mean_dice': float(dice[present].mean()) if present.any() else None,
        'iou': {label: float(v) for label, v in zip(labels, iou)},
        'dice': {label: float(v) for label, v in zip(labels, dice)},
    }


def evaluate(model, samples, labels, norm, multiple):
    """Whole images, padded at the bottom and right to a multiple of 2**(depth-1) and the padding cut off again."""
    classes = len(labels)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    loss, pixels = 0.0, 0
    model.eval()
    with torch.no_grad():
        for sample in samples:
            h, w = sample.mask.shape
            padded = np.pad(sample.image, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode='edge')
            logits = model(to_tensor(padded, norm['scale'], norm['mean'], norm['std']))[:, :, :h, :w]
            truth = torch.from_numpy(sample.mask).long()[None]
            loss += float(F.cross_entropy(logits, truth, reduction='sum'))
            pixels += h * w
            pairs = truth.flatten() * classes + logits.argmax(1).flatten()
            confusion += torch.bincount(pairs, minlength=classes * classes).reshape(classes, classes).numpy()
    return metrics_of(confusion, labels, loss / pixels)


def config_yaml(labels, norm, width, height, base, depth, parameters, final, dataset, version):
    task = 'binary' if len(labels) == 2 else 'semantic'
    dice = ', '.join(f'{label} {v:.3f}' for label, v in final['dice'].items() if v is not None)
    where = f'{dataset} (dataset version {version})' if version else dataset
    return '\n'.join([
        f'# U-Net trained by segserve_train unet on {where}.',
        f'# Validation split: pixel accuracy {final["pixel_accuracy"]:.4f}, mean IoU {final["mean_iou"]:.4f}, Dice {dice}.',
        f'# Tensors: image [1, 3, H, W] float32 NCHW -> probabilities [1, {len(labels)}, H, W] (softmax applied).',
        f'# H and W are dynamic in the graph (multiples of {2 ** (depth - 1)}); the server feeds the size below, the',
        '# median size of the training images. Grey images are read as R = G = B, as the server reads them.',
        f'task: {task}',
        'decoder: softmax',
        f'description: {yaml_value(f"U-Net base {base}, depth {depth}, {parameters / 1e6:.2f} M parameters (segserve_train)")}',
        'input:',
        f'  name: {yaml_value("image")}',
        f'  width: {width}',
        f'  height: {height}',
        '  resize: stretch',
        '  layout: NCHW',
        '  color: RGB',
        f'  scale: {norm["scale"]!r}',
        f'  mean: {yaml_value(norm["mean"])}',
        f'  std: {yaml_value(norm["std"])}',
        'output:',
        '  names:',
        f'    scores: {yaml_value("probabilities")}',
        '  layout: NCHW',
        '  activation: applied',
        f'labels: {yaml_value(labels)}',
        '',
    ])


def model_input_of(text):
    """The --model-input JSON, checked: an existing model's size and normalisation (its config.yaml's input)."""
    try:
        given = json.loads(text)
        width, height, scale = int(given['width']), int(given['height']), float(given['scale'])
        mean, std = [float(v) for v in given['mean']], [float(v) for v in given['std']]
    except (ValueError, TypeError, KeyError) as error:
        raise TrainError('BAD_OPTION', f'--model-input is not JSON {{width, height, scale, mean, std}}: {error}') from None
    if width < 1 or height < 1 or scale <= 0 or len(mean) != 3 or len(std) != 3 or 0 in std:
        raise TrainError('BAD_OPTION', '--model-input needs a positive size and scale, and 3 means and 3 non-zero stds')
    return {'width': width, 'height': height, 'normalisation': {'scale': scale, 'mean': mean, 'std': std}}


def split_samples(args):
    """(labels, train, val, samples): the val split of --data, or with --val-data every image of that folder
    (then --data's train and val images all train: a fixed held-out set, such as a promotion gate's)."""
    if args.val_data is None:
        labels, samples = load_mask_folder(args.data)
        return labels, [s for s in samples if s.split == 'train'], [s for s in samples if s.split == 'val'], samples
    labels, samples = load_mask_folder(args.data, splits=())
    val_labels, val = load_mask_folder(args.val_data, '--val-data', splits=())
    if val_labels != labels:
        raise TrainError('BAD_LABELS', f'--val-data names the classes {", ".join(val_labels)}; --data names '
                                       f'{", ".join(labels)}')
    train = [s for s in samples if s.split in ('train', 'val')]
    if not train:
        raise TrainError('NO_TRAIN_SPLIT', '--data: manifest.csv has no train or val image to train on')
    return labels, train, val, samples


def run(args):
    clock = Clock()
    if args.threads < 1 or args.batch < 1 or args.crop < 1 or args.lr <= 0:
        raise TrainError('BAD_OPTION', '--threads, --batch and --crop must be at least 1 and --lr positive')
    set_determinism(args.seed, args.threads)
    model_input = model_input_of(args.model_input) if args.model_input else None
    labels, train, val, samples = split_samples(args)
    checkpoint = load_checkpoint(args.init, labels, args.base, args.depth) if args.init else None
    base = checkpoint['arch']['base'] if checkpoint else (args.base or 16)
    depth = checkpoint['arch']['depth'] if checkpoint else (args.depth or 4)
    if base < 1 or depth < 1:
        raise TrainError('BAD_OPTION', '--base and --depth must be at least 1')
    multiple = 2 ** (depth - 1)
    if args.crop % multiple:
        raise TrainError('BAD_OPTION', f'--crop {args.crop} is not a multiple of {multiple} (2 ** (depth - 1))')
    iterations, epoch_length, epochs = plan_budget(args, train, multiple)
    # A fine-tuned model keeps the normalisation its weights were trained with; a new version of an existing model
    # takes the model's (its versions share one config.yaml).
    if checkpoint and model_input and checkpoint['normalisation'] != model_input['normalisation']:
        raise TrainError('BAD_OPTION', '--init was trained with another normalisation than --model-input gives')
    if model_input:
        norm = model_input['normalisation']
        width, height = model_input['width'], model_input['height']
    else:
        norm = checkpoint['normalisation'] if checkpoint else normalisation_of([s.image for s in train])
        width, height = (max(multiple, round(float(np.median([s.mask.shape[i] for s in train])) / multiple) * multiple)
                         for i in (1, 0))
    staged = StagedOutput(args.out)

    model = UNet(3, len(labels), base, depth)
    if checkpoint:
        model.load_state_dict(checkpoint['state_dict'])
    parameters = parameter_count(model)
    emit('start', command='unet', iterations=iterations, epochs=epochs, epoch_iterations=epoch_length,
         batch=args.batch, crop=args.crop, train_images=len(train), val_images=len(val), labels=labels,
         parameters=parameters, input={'width': width, 'height': height}, init=args.init, seed=args.seed,
         threads=args.threads)

    with staged as staging:
        rng = np.random.default_rng(args.seed)
        areas = np.array([s.mask.size for s in train], dtype=np.float64)
        weights = areas / areas.sum()
        optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
        # Ignored crop pixels (IGNORE) only exist where an image is smaller than the crop.
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
        history, losses = [], []
        train_seconds = val_seconds = 0.0
        last_progress = clock.wall()
        stopped = 'iterations'
        fail_at = int(os.environ.get('SEGSERVE_TRAIN_FAIL_AT_ITERATION', '0'))
        for iteration in range(1, iterations + 1):
            if iteration == fail_at:
                raise RuntimeError(f'failure injected at iteration {iteration} (SEGSERVE_TRAIN_FAIL_AT_ITERATION)')
            started = clock.wall()
            # Cosine decay from --lr to 0: DESIGN.md saw a constant rate swing Dice by 0.09 between checkpoints.
            for group in optimiser.param_groups:
                group['lr'] = args.lr * 0.5 * (1 + math.cos(math.pi * (iteration - 1) / iterations))
            x, y = crop_batch(train, weights, args, norm, rng)
            model.train()
            loss = loss_fn(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss))
            train_seconds += clock.wall() - started
            if args.time_budget_s is not None and train_seconds >= args.time_budget_s:
                stopped = 'time_budget'
            if clock.wall() - last_progress >= 1:
                last_progress = clock.wall()
                emit('progress', iteration=iteration, iterations=iterations, loss=float(loss))
            if iteration % epoch_length == 0 or iteration == iterations or stopped != 'iterations':
                started = clock.wall()
                metrics = evaluate(model, val, labels, norm, multiple)
                val_seconds += clock.wall() - started
                record = {'epoch': len(history) + 1, 'epochs': epochs, 'iteration': iteration, 'iterations': iterations,
                          'loss': float(np.mean(losses)), 'lr': optimiser.param_groups[0]['lr'], 'val': metrics,
                          'seconds': clock.wall(), 'images_per_s': iteration * args.batch / train_seconds}
                history.append(record)
                losses = []
                emit('epoch', **record)
                if stopped != 'iterations':
                    log(f'time budget of {args.time_budget_s} s reached at iteration {iteration} of {iterations}')
                    break

        final = history[-1]['val']
        best = max(history, key=lambda r: -1 if r['val']['mean_iou'] is None else r['val']['mean_iou'])
        started = clock.wall()
        model.eval()
        exported = Probabilities(model).eval()
        axes = {0: 'batch', 2: 'height', 3: 'width'}
        export_onnx(exported, torch.zeros(1, 3, height, width), staging / 'model.onnx',
                    {'image': axes, 'probabilities': axes})
        parity = parity_record(exported, resize_like_server(val[0].image, width, height), norm['scale'],
                               norm['mean'], norm['std'], f'{val[0].name} (val), resized to {width}x{height}', args.seed)
        write_json(staging / 'parity.json', parity)
        torch.save({'format': CHECKPOINT_FORMAT, 'state_dict': model.state_dict(), 'labels': labels,
                    'arch': {'in_channels': 3, 'classes': len(labels), 'base': base, 'depth': depth},
                    'normalisation': norm, 'input': {'width': width, 'height': height}}, staging / 'model.pt')
        (staging / 'labels.txt').write_text('\n'.join(labels) + '\n')
        data = str(Path(args.data).resolve())
        (staging / 'config.yaml').write_text(
            config_yaml(labels, norm, width, height, base, depth, parameters, final, data, args.dataset_version))
        export_seconds = clock.wall() - started
        metrics = {'pixel_accuracy': final['pixel_accuracy'], 'mean_iou': final['mean_iou'],
                   'mean_dice': final['mean_dice'], 'iou': final['iou'], 'dice': final['dice'], 'loss': final['loss']}
        report = {
            'command': 'unet',
            'options': {k: v for k, v in vars(args).items() if k != 'handler'},
            'model': {'architecture': 'unet', 'base': base, 'depth': depth, 'parameters': parameters, 'labels': labels,
                      'task': 'binary' if len(labels) == 2 else 'semantic', 'input': {'width': width, 'height': height},
                      'normalisation': norm, 'size_multiple': multiple, 'init': args.init},
            'dataset': {'folder': data, 'version': args.dataset_version,
                        'val_folder': str(Path(args.val_data).resolve()) if args.val_data else None,
                        'images': {'train': len(train), 'val': len(val),
                                   'test': sum(s.split == 'test' for s in samples)}},
            'code': {**code_version(), 'torch': torch.__version__},
            'budget': {'iterations': iterations, 'epoch_iterations': epoch_length, 'epochs': epochs,
                       'iterations_run': history[-1]['iteration'], 'stopped': stopped, 'batch': args.batch,
                       'crop': args.crop, 'lr': args.lr, 'schedule': 'cosine', 'seed': args.seed,
                       'threads': args.threads},
            'epochs': history,
            'best': {'epoch': best['epoch'], 'by': 'mean_iou', 'val': best['val']},
            'final': {'epoch': history[-1]['epoch'], 'val': final},
            'timing': {'wall_s': clock.wall(), 'cpu_s': clock.cpu(), 'train_s': train_seconds, 'val_s': val_seconds,
                       'export_s': export_seconds,
                       'images_per_s': history[-1]['iteration'] * args.batch / train_seconds},
        }
        write_json(staging / 'report.json', report)
    out = str(staged.out)
    emit('done', out=out, metrics=metrics, best={'epoch': best['epoch'], 'mean_iou': best['val']['mean_iou']},
         wall_s=report['timing']['wall_s'], cpu_s=report['timing']['cpu_s'],
         images_per_s=report['timing']['images_per_s'])
    return 0
