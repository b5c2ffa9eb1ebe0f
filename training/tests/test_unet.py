"""Quick checks of `unet` on tiny synthetic datasets (seconds each): outputs, determinism, fine-tuning, the
bad-input errors, and that a run failing or killed half-way leaves no model.onnx."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from helpers import TRAINING, ort_check, run_trainer, tiny_dataset

TINY = ['--base', '4', '--depth', '3', '--crop', '32', '--iterations', '4', '--epochs', '2']
OUTPUTS = {'model.onnx', 'config.yaml', 'labels.txt', 'model.pt', 'parity.json', 'report.json'}


class UnetTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix='segserve-train-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def train(self, data, out='out', *extra, env=None):
        return run_trainer('unet', '--data', data, '--out', self.tmp / out, *TINY, *extra, env=env)

    def assertRefused(self, code, data, *extra, mentions=()):
        """Exit 2, one error event and nothing else (found before training started), no output folder."""
        rc, events, stderr = self.train(data, 'out', *extra)
        self.assertEqual(rc, 2, stderr)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]['event'], 'error')
        self.assertEqual(events[0]['code'], code, events[0]['message'])
        for text in mentions:
            self.assertIn(text, events[0]['message'])
        self.assertFalse((self.tmp / 'out').exists())
        return events[0]['message']

    def test_grey_binary_run_writes_every_output(self):
        data = tiny_dataset(self.tmp / 'data')
        rc, events, stderr = self.train(data, 'out', '--dataset-version', 'v7')
        self.assertEqual(rc, 0, stderr)
        kinds = [e['event'] for e in events if e['event'] != 'progress']
        self.assertEqual(kinds, ['start', 'epoch', 'epoch', 'done'])
        start, done = events[0], events[-1]
        self.assertEqual((start['iterations'], start['epochs'], start['labels']), (4, 2, ['background', 'disc']))
        epoch = [e for e in events if e['event'] == 'epoch'][-1]
        self.assertEqual((epoch['epoch'], epoch['iteration']), (2, 4))
        self.assertEqual(set(epoch['val']['dice']), {'background', 'disc'})
        out = self.tmp / 'out'
        self.assertEqual(done['out'], str(out.resolve()))
        self.assertEqual({p.name for p in out.iterdir()}, OUTPUTS)
        self.assertEqual([p.name for p in self.tmp.iterdir() if 'staging' in p.name], [])

        config = (out / 'config.yaml').read_text()
        for line in ('task: binary', 'decoder: softmax', '  width: 48', '  height: 40', '  layout: NCHW',
                     '    scores: "probabilities"', '  activation: applied', 'labels: ["background", "disc"]'):
            self.assertIn(line + '\n', config)
        self.assertEqual((out / 'labels.txt').read_text(), 'background\ndisc\n')
        parity = json.loads((out / 'parity.json').read_text())
        self.assertEqual(parity['input']['dims'], [1, 3, 40, 48])
        self.assertEqual(parity['output']['dims'], [1, 2, 40, 48])
        self.assertEqual(parity['input']['pixels']['channels'], 1)  # grey images travel as one channel
        report = json.loads((out / 'report.json').read_text())
        self.assertEqual(report['dataset']['version'], 'v7')
        self.assertEqual(report['dataset']['images'], {'train': 4, 'val': 2, 'test': 0})
        self.assertEqual(len(report['epochs']), 2)
        self.assertEqual(report['final']['val'], epoch['val'])
        self.assertEqual(len(report['code']['sources_sha256']), 64)
        self.assertGreater(report['timing']['images_per_s'], 0)

    def test_rgb_three_classes_and_onnx_in_onnxruntime(self):
        data = tiny_dataset(self.tmp / 'data', classes=3, grey=False)
        rc, events, stderr = self.train(data)
        self.assertEqual(rc, 0, stderr)
        out = self.tmp / 'out'
        self.assertIn('task: semantic\n', (out / 'config.yaml').read_text())
        parity = json.loads((out / 'parity.json').read_text())
        self.assertEqual(parity['output']['dims'], [1, 3, 40, 48])
        self.assertEqual(parity['input']['pixels']['channels'], 3)
        check = ort_check(self, out, '64x64', '24x72')
        self.assertEqual((check['inputNames'], check['outputNames']), (['image'], ['probabilities']))
        self.assertEqual(check['outputDims'], [1, 3, 40, 48])
        self.assertLess(check['inputMaxDiff'], 1e-5)
        self.assertLess(check['outputMaxDiff'], parity['tolerance']['absolute'])
        self.assertEqual([d['output'] for d in check['dynamic']], [[1, 3, 64, 64], [1, 3, 24, 72]])

    def test_same_seed_same_weights(self):
        data = tiny_dataset(self.tmp / 'data')
        runs = {}
        for out, seed in (('a', 3), ('b', 3), ('c', 4)):
            rc, events, stderr = self.train(data, out, '--seed', str(seed))
            self.assertEqual(rc, 0, stderr)
            runs[out] = torch.load(self.tmp / out / 'model.pt')['state_dict']
        for name, tensor in runs['a'].items():
            self.assertTrue(torch.equal(tensor, runs['b'][name]), name)
        self.assertFalse(all(torch.equal(t, runs['c'][n]) for n, t in runs['a'].items()))

    def test_fine_tunes_from_a_checkpoint(self):
        data = tiny_dataset(self.tmp / 'data')
        self.assertEqual(self.train(data, 'first')[0], 0)
        checkpoint = self.tmp / 'first' / 'model.pt'
        rc, events, stderr = self.train(data, 'second', '--init', checkpoint)
        self.assertEqual(rc, 0, stderr)
        self.assertEqual(events[0]['init'], str(checkpoint))
        # The fine-tuned model keeps the normalisation its first weights learnt.
        self.assertEqual(torch.load(checkpoint)['normalisation'], torch.load(self.tmp / 'second' / 'model.pt')['normalisation'])
        three = tiny_dataset(self.tmp / 'three', classes=3)
        self.assertRefused('BAD_CHECKPOINT', three, '--init', checkpoint, mentions=['disc', 'square'])
        self.assertRefused('BAD_CHECKPOINT', data, '--init', data / 'labels.txt')

    def test_a_held_out_folder_and_an_existing_models_input(self):
        # segserve's own export names the split `validation`; with --val-data it trains with the rest.
        data = tiny_dataset(self.tmp / 'data')
        manifest = data / 'manifest.csv'
        manifest.write_text(manifest.read_text().replace(',val\n', ',validation\n'))
        held = tiny_dataset(self.tmp / 'held', train=0, val=3, seed=5)
        model_input = {'width': 64, 'height': 32, 'scale': 1 / 255, 'mean': [0.5, 0.4, 0.3], 'std': [0.2, 0.2, 0.25]}
        rc, events, stderr = self.train(data, 'out', '--val-data', held, '--model-input', json.dumps(model_input))
        self.assertEqual(rc, 0, stderr)
        self.assertEqual((events[0]['train_images'], events[0]['val_images']), (6, 3))
        self.assertEqual(events[0]['input'], {'width': 64, 'height': 32})
        report = json.loads((self.tmp / 'out' / 'report.json').read_text())
        self.assertEqual(report['dataset']['images'], {'train': 6, 'val': 3, 'test': 0})
        self.assertEqual(report['dataset']['val_folder'], str(held.resolve()))
        self.assertEqual(report['model']['normalisation'],
                         {k: model_input[k] for k in ('scale', 'mean', 'std')})
        self.assertIn('  mean: [0.5, 0.4, 0.3]\n', (self.tmp / 'out' / 'config.yaml').read_text())

        shutil.rmtree(self.tmp / 'out')
        three = tiny_dataset(self.tmp / 'three', classes=3)
        self.assertRefused('BAD_LABELS', data, '--val-data', three, mentions=['square'])
        self.assertRefused('BAD_OPTION', data, '--model-input', '{"width": 64}', mentions=['--model-input'])
        self.assertRefused('BAD_OPTION', data, '--model-input', json.dumps({**model_input, 'std': [1, 0, 1]}))

    def test_bad_datasets_are_refused_before_training(self):
        def fresh(name, **options):
            return tiny_dataset(self.tmp / name, **options)

        empty = fresh('empty')
        (empty / 'manifest.csv').write_text('image,mask,split\n')
        self.assertRefused('EMPTY_DATASET', empty)

        no_val = fresh('no-val', val=0)
        self.assertRefused('NO_VAL_SPLIT', no_val)
        self.assertRefused('NO_TRAIN_SPLIT', fresh('no-train', train=0))

        sizes = fresh('sizes')
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(sizes / 'masks' / 'val1.png')
        self.assertRefused('MASK_SIZE_MISMATCH', sizes, mentions=['masks/val1.png', '20x20', '48x40'])

        values = fresh('values')
        mask = np.zeros((40, 48), np.uint8)
        mask[3, 4], mask[5, 6] = 7, 255
        Image.fromarray(mask).save(values / 'masks' / 'train2.png')
        self.assertRefused('MASK_VALUES', values, mentions=['masks/train2.png', '7, 255'])

        fewer = fresh('fewer-classes')
        (fewer / 'labels.txt').write_text('background\n')
        self.assertRefused('BAD_LABELS', fewer)

        broken = fresh('broken')
        (broken / 'images' / 'train1.png').write_bytes(b'not a png')
        self.assertRefused('UNREADABLE_FILE', broken, mentions=['images/train1.png'])
        missing = fresh('missing')
        (missing / 'masks' / 'val0.png').unlink()
        self.assertRefused('UNREADABLE_FILE', missing, mentions=['masks/val0.png'])

        rgb_mask = fresh('rgb-mask')
        Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(rgb_mask / 'masks' / 'val0.png')
        self.assertRefused('BAD_MASK', rgb_mask, mentions=['masks/val0.png'])

        header = fresh('header')
        (header / 'manifest.csv').write_text('img,mask\n')
        self.assertRefused('BAD_MANIFEST', header)
        self.assertRefused('DATASET_NOT_FOUND', self.tmp / 'nowhere')

    def test_bad_options_are_refused(self):
        data = tiny_dataset(self.tmp / 'data')
        self.assertRefused('BAD_OPTION', data, '--crop', '30', mentions=['multiple of 4'])
        self.assertRefused('BAD_OPTION', data, '--no-such-option')
        self.assertRefused('BAD_OPTION', data, '--iterations', '0')
        (self.tmp / 'out').mkdir()
        (self.tmp / 'out' / 'old.txt').write_text('kept')
        rc, events, _ = self.train(data)
        self.assertEqual((rc, events[-1]['code']), (2, 'OUT_NOT_EMPTY'))
        self.assertEqual([p.name for p in (self.tmp / 'out').iterdir()], ['old.txt'])

    def test_a_failure_half_way_leaves_no_model(self):
        data = tiny_dataset(self.tmp / 'data')
        rc, events, stderr = self.train(data, 'out', env={'SEGSERVE_TRAIN_FAIL_AT_ITERATION': '3'})
        self.assertEqual(rc, 1, stderr)
        self.assertEqual([e['event'] for e in events if e['event'] != 'progress'], ['start', 'epoch', 'error'])
        self.assertEqual(events[-1]['code'], 'INTERNAL')
        self.assertIn('Traceback', stderr)
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), ['data'])

    def test_killed_half_way_leaves_no_model(self):
        data = tiny_dataset(self.tmp / 'data')
        for sig, code in ((signal.SIGTERM, 143), (signal.SIGKILL, -9)):
            out = self.tmp / f'out-{sig.name}'
            with subprocess.Popen(
                    [sys.executable, '-m', 'segserve_train', 'unet', '--data', str(data), '--out', str(out), *TINY[:6],
                     '--iterations', '100000', '--epochs', '50000'],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                    env={**os.environ, 'PYTHONPATH': str(TRAINING)}) as process:
                for line in process.stdout:
                    if json.loads(line)['event'] == 'epoch':
                        break
                process.send_signal(sig)
                rest = process.stdout.read()
                self.assertEqual(process.wait(timeout=60), code)
            self.assertFalse((out / 'model.onnx').exists())
            self.assertFalse(out.exists())
            if sig == signal.SIGTERM:
                self.assertEqual(json.loads(rest.splitlines()[-1])['code'], 'INTERRUPTED')
                self.assertEqual([p.name for p in self.tmp.iterdir() if 'staging' in p.name], [])


if __name__ == '__main__':
    unittest.main()
