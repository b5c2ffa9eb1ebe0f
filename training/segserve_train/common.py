"""What both trainers share: determinism, image reading as segserve reads images, the staged output folder,
ONNX export, parity.json, config.yaml values and the code version."""
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .protocol import TrainError, clean

PACKAGE_DIR = Path(__file__).resolve().parent
# onnxruntime 1.30 reads opsets up to 21; 17 is the newest torch 1.13 writes.
OPSET = 17
INPUT_NAME = 'image'
OUTPUT_NAME = 'probabilities'
IMAGE_SUFFIXES = {'.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.webp', '.gif'}
# Output elements written in full to parity.json; bigger outputs are sampled at PARITY_SAMPLES positions.
PARITY_FULL = 4096
PARITY_SAMPLES = 2048


def set_determinism(seed, threads):
    """Same seed and same thread count give the same weights. Threads are fixed because torch uses 1 thread here
    unless told (2 threads trained 1.35x faster), and because reductions split differently with other counts."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def read_rgb(path, label=None):
    """An image as segserve's server reads it: EXIF orientation applied, 16-bit reduced to 8 bits, grey
    replicated into R, G and B, alpha dropped (not composited). uint8 [H, W, 3]."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
                grey = (np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                return np.repeat(grey[:, :, None], 3, axis=2)
            return np.array(image.convert('RGB'), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TrainError('UNREADABLE_FILE', f'cannot read image {label or path}: {error}') from None


def resize_like_server(rgb, width, height):
    """Bilinear without antialiasing on half-pixel centres, as segserve resizes (OpenCV INTER_LINEAR), rounded
    back to 8-bit pixels because the server fills the tensor from 8-bit pixels."""
    if rgb.shape[0] == height and rgb.shape[1] == width:
        return rgb
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def to_tensor(rgb, scale, mean, std):
    """uint8 [H, W, 3] -> float32 [1, 3, H, W]: value = (pixel * scale - mean[c]) / std[c], config.yaml's formula."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() * scale
    x = (x - torch.tensor(mean, dtype=torch.float32)[:, None, None]) / torch.tensor(std, dtype=torch.float32)[:, None, None]
    return x[None]


def image_files(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError('UNREADABLE_FILE', f'{folder} is not a folder')
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def export_onnx(model, example, path, dynamic_axes):
    torch.onnx.export(
        model.eval(), example, str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        opset_version=OPSET, dynamic_axes=dynamic_axes, do_constant_folding=True,
    )


def parity_record(model, rgb, scale, mean, std, source, seed):
    """One fixed input and PyTorch's output, for the Node side to run through onnxruntime and compare.

    The input is given as 8-bit pixels (channels 1 when grey, else RGB, row-major): segserve's own
    `rawToTensor(raw, config.input)` must turn them into the tensor, which checks config.yaml's
    scale/mean/std as well as the graph. `input.samples` are tensor values to check that step alone."""
    grey = bool((rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all())
    pixels = rgb[:, :, :1] if grey else rgb
    tensor = to_tensor(rgb, scale, mean, std)
    with torch.no_grad():
        output = model.eval()(tensor)
    rng = np.random.default_rng(seed)
    flat_in = tensor.flatten()
    in_idx = np.sort(rng.choice(flat_in.numel(), size=min(256, flat_in.numel()), replace=False))
    flat_out = output.flatten()
    if flat_out.numel() <= PARITY_FULL:
        out_idx = np.arange(flat_out.numel())
    else:
        out_idx = np.sort(rng.choice(flat_out.numel(), size=PARITY_SAMPLES, replace=False))
    return {
        'source': source,
        'input': {
            'name': INPUT_NAME,
            'dims': list(tensor.shape),
            'pixels': {
                'width': int(rgb.shape[1]), 'height': int(rgb.shape[0]), 'channels': int(pixels.shape[2]),
                'base64': base64.b64encode(np.ascontiguousarray(pixels).tobytes()).decode('ascii'),
            },
            'samples': {'index': in_idx.tolist(), 'value': flat_in[in_idx].tolist()},
        },
        'output': {
            'name': OUTPUT_NAME,
            'dims': list(output.shape),
            'samples': {'index': out_idx.tolist(), 'value': flat_out[out_idx].tolist()},
            'mean': float(output.mean()), 'min': float(output.min()), 'max': float(output.max()),
        },
        # The export is float32 throughout: the models of DESIGN.md matched PyTorch within 2e-5 in onnxruntime-node.
        'tolerance': {'absolute': 1e-4},
    }


def yaml_value(value):
    """Flow-style YAML from JSON: JSON is valid YAML, and quoting every string keeps labels such as `no` or
    `null` from being read as booleans or nulls."""
    return json.dumps(clean(value))


def code_version():
    """The repository commit (with whether training/ has uncommitted changes) and a hash of the trainer's sources,
    which identifies the code even outside a git checkout."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob('*.py')):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b'\0' + path.read_bytes() + b'\0')
    version = {'git_commit': None, 'git_dirty': None, 'sources_sha256': digest.hexdigest()}
    try:
        run = lambda *args: subprocess.run(['git', '-C', str(PACKAGE_DIR), *args], capture_output=True, text=True,
                                           timeout=10, check=True).stdout.strip()
        version['git_commit'] = run('rev-parse', 'HEAD')
        version['git_dirty'] = run('status', '--porcelain', '--', str(PACKAGE_DIR.parent)) != ''
    except (OSError, subprocess.SubprocessError):
        pass
    return version


class StagedOutput:
    """Outputs are written to a hidden sibling folder and renamed onto `--out` only when all are written, so a
    run that fails or is killed half-way never leaves a model.onnx (or half of one) in `--out`."""

    def __init__(self, out):
        self.out = Path(out).resolve()
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise TrainError('OUT_NOT_EMPTY', f'--out {self.out} exists and is not an empty folder')
        self.staging = self.out.parent / f'.{self.out.name}.staging-{os.getpid()}'

    def __enter__(self):
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        return self.staging

    def __exit__(self, kind, error, trace):
        if kind is None:
            if self.out.exists():
                self.out.rmdir()
            os.rename(self.staging, self.out)
        else:
            shutil.rmtree(self.staging, ignore_errors=True)
        return False


def write_json(path, value):
    Path(path).write_text(json.dumps(clean(value), indent=2, allow_nan=False) + '\n')


class Clock:
    """Wall and CPU seconds since start; CPU counts every thread of the process."""

    def __init__(self):
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def wall(self):
        return time.perf_counter() - self.wall0

    def cpu(self):
        return time.process_time() - self.cpu0
