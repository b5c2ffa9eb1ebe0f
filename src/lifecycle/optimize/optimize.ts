/**
 * `segserve models optimize <model> --int8`: a float32 version of a model, quantised to int8 (QDQ, see
 * src/models/quantize) with activation ranges calibrated on images, checked by the accuracy guard, and added to
 * the model as a new version through the repository's upload path (src/lifecycle/upload.ts), so it is validated
 * and loaded like any uploaded version. In order, all inside one staging folder of the repository (hidden, and
 * removed at the end whatever the outcome):
 *
 *   1. ONNX Runtime's basic graph rewrites (biases and batch norms folded into Conv), then the quantisation plan:
 *      a model it cannot quantise is refused here (QUANTIZE_UNSUPPORTED);
 *   2. calibration: the activations' ranges over the calibration images (calibrate.ts);
 *   3. the int8 graph, and the guard against the float32 version (guard.ts). When the guard refuses and
 *      `autoExclude` allows it, the layers that add the most quantisation error (sensitivity.ts) are kept in
 *      float32, 1, then 2, 4, ... of them up to `autoExclude`, each candidate checked again;
 *   4. a candidate the guard accepts is published as the next version; otherwise INT8_GUARD_REFUSED, and
 *      nothing is written.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SegserveError } from '../../errors.js';
import type { LoadedVersion } from '../../models/index.js';
import {
  applyQdq,
  type CalibrationMethod,
  decodeModel,
  encodeModel,
  planQuantization,
  type QuantizationPlan,
  withActivationOutputs,
} from '../../models/quantize/index.js';
import { saveBasicOptimizedGraph } from '../../runtime/optimize-graph.js';
import type { EvaluationDataset } from '../evaluation/index.js';
import type { StagedUpload, UploadOutcome } from '../upload.js';
import { type Calibration, type CalibrationImage, calibrate } from './calibrate.js';
import {
  AccuracyGuard,
  type GuardBounds,
  type GuardProgress,
  type GuardResult,
  writeGuardConfig,
} from './guard.js';
import { rankSensitivity } from './sensitivity.js';

export interface OptimizeRequest {
  /** The float32 version to quantise. */
  source: LoadedVersion;
  /** The model's folder in the repository (its config.yaml is the guard's). */
  modelDir: string;
  /** The version number the int8 version takes. */
  version: number;
  calibration: { images: readonly CalibrationImage[]; name: string; method: CalibrationMethod };
  /** Node names kept in float32 from the start. */
  exclude: readonly string[];
  guard: GuardBounds & {
    dataset?: EvaluationDataset;
    agreementImages: readonly CalibrationImage[];
    /** Most layers the guard may keep in float32 on its own when the bound is exceeded (0: none). */
    autoExclude: number;
  };
  progress?: GuardProgress;
}

export interface OptimizeDeps {
  /** A new, empty staging folder inside the repository. */
  stage(): Promise<string>;
  /** The repository's upload path; it removes `staged.dir` when it ends. */
  publish(staged: StagedUpload, version: number): Promise<UploadOutcome>;
}

export interface OptimizeOutcome {
  /** The float32 version it was made from. */
  source: { version: number; modelPath: string };
  upload: UploadOutcome;
  /** Nodes quantised, and those left in float32 with the reason. */
  quantized: number;
  skipped: QuantizationPlan['skipped'];
  calibration: Pick<Calibration, 'images' | 'skipped'>;
  /** The guard's verdict on the version written. */
  guard: GuardResult;
  /** Every candidate the guard checked, with how many layers it kept in float32 for it; the last was written. */
  attempts: Array<{ keptInFloat32: number; guard: GuardResult }>;
  /** Layers the guard kept in float32 itself, most sensitive first. */
  autoExcluded: string[];
}

export async function optimizeInt8(deps: OptimizeDeps, request: OptimizeRequest): Promise<OptimizeOutcome> {
  const { source } = request;
  const staging = await deps.stage();
  let published = false;
  try {
    const prepared = join(staging, 'prepared.onnx');
    await saveBasicOptimizedGraph(source.modelPath, prepared);
    const preparedBytes = await readFile(prepared);
    const plan = planQuantization(decodeModel(preparedBytes), {
      model: source.name,
      exclude: request.exclude,
    });

    const calibrationModel = join(staging, 'calibration.onnx');
    await writeFile(
      calibrationModel,
      encodeModel(withActivationOutputs(decodeModel(preparedBytes), plan.activations)),
    );
    const bar = request.progress?.(`calibrate ${source.name}`, request.calibration.images.length);
    let calibration: Calibration;
    try {
      calibration = await calibrate({
        source,
        calibrationModel,
        activations: plan.activations,
        images: request.calibration.images,
        sourceName: request.calibration.name,
        method: request.calibration.method,
        onImage: (name) => bar?.tick(name),
      });
    } finally {
      bar?.stop();
    }

    const guardFolder = join(staging, 'guard', source.name);
    const candidateDir = join(guardFolder, String(request.version));
    const candidate = join(candidateDir, 'model.onnx');
    await mkdir(candidateDir, { recursive: true });
    await writeGuardConfig(
      guardFolder,
      join(request.modelDir, 'config.yaml'),
      await readFile(join(request.modelDir, 'config.yaml'), 'utf8'),
      source,
    );
    const guard = new AccuracyGuard(
      { dataset: request.guard.dataset, agreementImages: request.guard.agreementImages },
      request.guard,
      request.progress,
    );
    const check = async (excluded: readonly string[]) => {
      const kept = new Set(excluded);
      const nodes = plan.nodes.filter((n) => !kept.has(n.name));
      const activations = new Set(nodes.flatMap((n) => [n.activation, n.output]));
      const subset: QuantizationPlan = {
        nodes,
        activations: plan.activations.filter((a) => activations.has(a)),
        skipped: [
          ...plan.skipped,
          ...excluded.map((name) => ({ name, op: opOf(plan, name), reason: 'kept in float32 by the guard' })),
        ],
      };
      await writeFile(
        candidate,
        encodeModel(applyQdq(decodeModel(preparedBytes), subset, calibration.ranges)),
      );
      return { subset, result: await guard.check(guardFolder, source.name, source.version, request.version) };
    };

    let attempt = await check([]);
    const attempts: OptimizeOutcome['attempts'] = [{ keptInFloat32: 0, guard: attempt.result }];
    let autoExcluded: string[] = [];
    if (attempt.result.refusals.length > 0 && request.guard.autoExclude > 0) {
      const ranking = await rankSensitivity({
        source,
        calibrationModel,
        candidate,
        plan,
        images: request.calibration.images.slice(0, 4),
        progress: request.progress,
      });
      for (let k = 1; attempt.result.refusals.length > 0; k *= 2) {
        const count = Math.min(k, request.guard.autoExclude, ranking.length);
        autoExcluded = ranking.slice(0, count);
        attempt = await check(autoExcluded);
        attempts.push({ keptInFloat32: count, guard: attempt.result });
        if (count >= Math.min(request.guard.autoExclude, ranking.length)) break;
      }
    }
    if (attempt.result.refusals.length > 0) {
      const kept =
        autoExcluded.length > 0
          ? ` (with ${autoExcluded.length} most sensitive layers kept in float32: ${autoExcluded.join(', ')})`
          : '';
      throw new SegserveError('INT8_GUARD_REFUSED', {
        model: source.name,
        reason: `${attempt.result.refusals.join('; ')}${kept}`,
      });
    }
    // Everything but the candidate goes before the upload moves it, so the staging folder holds only what it needs.
    await Promise.all(
      ['prepared.onnx', 'calibration.onnx'].map((file) => rm(join(staging, file), { force: true })),
    );
    published = true;
    const upload = await deps.publish({ dir: staging, onnx: candidate }, request.version);
    return {
      source: { version: source.version, modelPath: source.modelPath },
      upload,
      quantized: attempt.subset.nodes.length,
      skipped: attempt.subset.skipped,
      calibration: { images: calibration.images, skipped: calibration.skipped },
      guard: attempt.result,
      attempts,
      autoExcluded,
    };
  } finally {
    // The upload removes the staging folder itself once it ends.
    if (!published) await rm(staging, { recursive: true, force: true });
  }
}

function opOf(plan: QuantizationPlan, name: string): string {
  return plan.nodes.find((n) => n.name === name)?.op ?? '';
}
