/**
 * A model folder `name` in `dir` holding the shipped MediaPipe selfie config, reading the shared ONNX file, with
 * `extra` keys set on top (monitoring, sampling, retraining...): real-data tests serve the real model this way.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPOSITORY_DIR } from './paths.js';
import { SHARED_DIR } from './shared.js';

export async function writeSelfieFolder(
  dir: string,
  name: string,
  extra: Record<string, unknown>,
): Promise<void> {
  const config = parse(await readFile(join(REPOSITORY_DIR, 'mediapipe-selfie', 'config.yaml'), 'utf8'));
  config.versions = { 1: join(SHARED_DIR, 'models/mediapipe-selfie-segmentation/selfie_segmentation.onnx') };
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, 'config.yaml'), stringify({ ...config, ...extra }));
}
