/**
 * First run: a model repository with no models gets a real one, MediaPipe's person segmentation model,
 * imported from the `@mediapipe/selfie_segmentation` npm package (Apache-2.0) that `npm ci` installed.
 * No download beyond the npm registry, and the service answers real requests from its first start.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { importBundledSelfieModel } from './tflite/index.js';

async function hasModels(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return false;
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.some((e) => e.isDirectory() && existsSync(join(dir, e.name, 'config.yaml')));
}

export type ProvisionOutcome =
  | { provisioned: false }
  | { provisioned: true; model: string; onnxPath: string };

/** Imports the bundled person model when `dir` holds no model folder; leaves any other repository alone. */
export async function provisionEmptyRepository(dir: string): Promise<ProvisionOutcome> {
  if (await hasModels(dir)) return { provisioned: false };
  await mkdir(dir, { recursive: true });
  const imported = await importBundledSelfieModel(dir);
  return { provisioned: true, model: 'person', onnxPath: imported.onnxPath };
}
