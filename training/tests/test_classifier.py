"""Quick checks of `classifier` on tiny generated folders: outputs, determinism, errors."""
import json
import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from helpers import ort_check, run_trainer

TINY = ['--iterations', '6', '--epochs', '2', '--batch', '8']


def image_folder(folder, kind, count, seed):
    """`lines`: dark random lines on a light grey texture (EM-like); `photo`: colour blocks on a colour ramp."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(count):
        if kind == 'lines':
            image = rng.normal(180, 15, (96, 96))
            for _ in range(6):
                image[:, rng.integers(96)] = 40
                image[rng.integers(96), :] = 40
            Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(folder / f'{i}.png')
        else:
            image = np.zeros((72, 96, 3)) + rng.uniform(0, 255, 3) * np.linspace(0.3, 1, 96)[None, :, None]
            image[20:50, 30:70] = rng.uniform(0, 255, 3)
            Image.fromarray(image.astype(np.uint8)).save(folder / f'{i}.jpg')
    return folder


class ClassifierTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix='segserve-train-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.positives = image_folder(self.tmp / 'em', 'lines', 8, 1)
        self.negatives = image_folder(self.tmp / 'photos', 'photo', 8, 2)

    def train(self, out, *extra):
        return run_trainer('classifier', '--positives', self.positives, '--negatives', self.negatives,
                           '--out', self.tmp / out, *TINY, *extra)

    def test_writes_a_classification_model(self):
        rc, events, stderr = self.train('out')
        self.assertEqual(rc, 0, stderr)
        self.assertEqual([e['event'] for e in events], ['start', 'epoch', 'epoch', 'done'])
        self.assertEqual(events[0]['labels'], ['other', 'em'])
        self.assertEqual(events[0]['heldout_images'], {'em': 2, 'other': 2, 'synthetic': 240})
        self.assertLess(abs(events[0]['parameters'] - 25_000), 1_000)
        self.assertEqual(set(events[-1]['metrics']['per_class']), {'other', 'em'})
        out = self.tmp / 'out'
        config = (out / 'config.yaml').read_text()
        for line in ('task: classification', 'decoder: softmax-classifier', '  width: 64', '  height: 64',
                     '    scores: "probabilities"', '  activation: applied', 'labels: ["other", "em"]'):
            self.assertIn(line + '\n', config)
        self.assertEqual((out / 'labels.txt').read_text(), 'other\nem\n')
        parity = json.loads((out / 'parity.json').read_text())
        self.assertEqual((parity['input']['dims'], parity['output']['dims']), ([1, 3, 64, 64], [1, 2]))
        self.assertEqual(parity['output']['samples']['index'], [0, 1])
        report = json.loads((out / 'report.json').read_text())
        self.assertEqual(set(report['heldout']['by_folder']), {str(self.positives), str(self.negatives)})
        self.assertEqual(set(report['heldout']['synthetic_by_kind']),
                         {'noise', 'matched_noise', 'smooth_noise', 'blank', 'gradient', 'stripes'})
        check = ort_check(self, out)
        self.assertEqual((check['inputNames'], check['outputNames'], check['outputDims']),
                         (['image'], ['probabilities'], [1, 2]))
        self.assertLess(check['outputMaxDiff'], parity['tolerance']['absolute'])

    def test_same_seed_same_weights(self):
        weights = []
        for out in ('a', 'b'):
            self.assertEqual(self.train(out, '--seed', '9')[0], 0)
            weights.append(torch.load(self.tmp / out / 'model.pt')['state_dict'])
        for name, tensor in weights[0].items():
            self.assertTrue(torch.equal(tensor, weights[1][name]), name)

    def test_bad_input(self):
        (self.tmp / 'empty').mkdir()
        rc, events, _ = run_trainer('classifier', '--positives', self.tmp / 'empty', '--out', self.tmp / 'out', *TINY)
        self.assertEqual((rc, [e['code'] for e in events]), (2, ['EMPTY_DATASET']))
        (self.negatives / 'broken.png').write_bytes(b'\x89PNG not really')
        rc, events, _ = self.train('out')
        self.assertEqual((rc, [e['code'] for e in events]), (2, ['UNREADABLE_FILE']))
        self.assertIn('broken.png', events[0]['message'])
        rc, events, _ = self.train('out', '--positive-label', 'other')
        self.assertEqual((rc, [e['code'] for e in events]), (2, ['BAD_OPTION']))
        self.assertFalse((self.tmp / 'out').exists())


if __name__ == '__main__':
    unittest.main()
