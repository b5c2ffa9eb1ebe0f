/**
 * The accuracy guard of an int8 version: the float32 version and the candidate, served side by side from a
 * temporary model folder (the model's own config, both versions), each run through the serving core like any
 * evaluation:
 *
 * - on a labelled set, the task's headline figure (mask AP of an instance model, mIoU of a semantic or binary
 *   one, as `segserve eval` computes them); the loss is float32 minus int8, in points (0.01);
 * - on unlabelled images, how far the two versions' answers agree (src/eval/agreement.ts: mean IoU over the
 *   classes present, or the panoptic-quality form for instances), the mean over the images.
 *
 * The float32 side is evaluated once and kept, so a second candidate (with more layers left in float32) costs
 * only its own run.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { SegserveError } from '../../errors.js';
import { compareSegmentations } from '../../eval/index.js';
import { type LoadedVersion, ModelRepository, type Task } from '../../models/index.js';
import { CONFIG_FILE } from '../../models/load-config.js';
import { InferenceService } from '../../serving/service.js';
import type { MaskResult } from '../../tasks/types.js';
import { type EvaluationDataset, evaluateModel, metricValue } from '../evaluation/index.js';
import type { CalibrationImage } from './calibrate.js';

export interface GuardBounds {
  /** Most points of mask AP or mIoU the int8 version may lose on the labelled set. */
  maxLoss: number;
  /** Least mean agreement (0..1) with the float32 answers on the unlabelled images. */
  minAgreement: number;
}

export interface GuardInputs {
  /** The labelled set; without one only agreement is checked. */
  dataset?: EvaluationDataset;
  /** Unlabelled images whose answers are compared. */
  agreementImages: readonly CalibrationImage[];
}

/** Progress of one run of the guard: a label and the images it goes through. */
export type GuardProgress = (label: string, total: number) => { tick(detail?: string): void; stop(): void };

export interface GuardMetric {
  name: 'mask_ap' | 'miou';
  float32: number;
  int8: number;
  /** float32 - int8, in points. */
  loss: number;
}

export interface GuardAgreement {
  images: number;
  mean: number;
  lowest: number;
}

export interface GuardResult {
  metric?: GuardMetric;
  agreement?: GuardAgreement;
  /** Why the candidate is refused; empty when it passes. */
  refusals: string[];
}

/** One version's figures: its metric on the labelled set, its answers on the unlabelled images. */
interface Side {
  metric?: number;
  answers: MaskResult[];
}

/**
 * The candidate's model folder for the guard: config.yaml as the model has it, with the float32 version named by
 * its absolute path, the candidate as a `<n>/model.onnx` folder, the labels inline (a labels_file path would be
 * relative to the model's own folder), every version loaded once, and no gate (the guard measures the model).
 */
export async function writeGuardConfig(
  folder: string,
  modelConfigFile: string,
  configText: string,
  float32: LoadedVersion,
): Promise<void> {
  const raw = (parse(configText) ?? {}) as Record<string, unknown>;
  delete raw.labels_file;
  delete raw.pipeline;
  raw.labels = float32.labels;
  raw.versions = { [float32.version]: float32.modelPath };
  raw.version_policy = { all: true };
  raw.instances = 1;
  raw.description = `int8 accuracy guard of ${modelConfigFile}`;
  await writeFile(join(folder, CONFIG_FILE), stringify(raw));
}

function metricOf(task: Task): GuardMetric['name'] {
  return task === 'instance' ? 'mask_ap' : 'miou';
}

export class AccuracyGuard {
  readonly #inputs: GuardInputs;
  readonly #bounds: GuardBounds;
  readonly #progress?: GuardProgress;
  #float?: Side;

  constructor(inputs: GuardInputs, bounds: GuardBounds, progress?: GuardProgress) {
    this.#inputs = inputs;
    this.#bounds = bounds;
    this.#progress = progress;
  }

  /** Checks the candidate at `<folder>/<candidate>/model.onnx` against the float32 version the folder names. */
  async check(folder: string, model: string, float32: number, candidate: number): Promise<GuardResult> {
    const repository = await ModelRepository.openModelFolder(folder);
    const service = new InferenceService(repository);
    try {
      const metric = metricOf(service.resolve({ model, version: float32 }).config.task);
      const float = this.#float ?? (await this.#side(service, model, float32, 'float32', metric));
      this.#float = float;
      const int8 = await this.#side(service, model, candidate, 'int8', metric);
      return this.#judge(metric, float, int8);
    } finally {
      await service.close();
    }
  }

  async #side(
    service: InferenceService,
    model: string,
    version: number,
    label: string,
    metric: GuardMetric['name'],
  ): Promise<Side> {
    const side: Side = { answers: [] };
    const { dataset, agreementImages } = this.#inputs;
    if (dataset) {
      let running: ReturnType<GuardProgress> | undefined;
      try {
        const evaluation = await evaluateModel({
          service,
          model,
          version,
          dataset,
          onProgress: ({ image }) => {
            running ??= this.#progress?.(`guard ${label} ${metric}`, dataset.size);
            running?.tick(image);
          },
        });
        side.metric = metricValue(evaluation.report, metric) ?? undefined;
      } finally {
        running?.stop();
      }
    }
    if (agreementImages.length > 0) {
      const bar = this.#progress?.(`guard ${label} agreement`, agreementImages.length);
      try {
        for (const image of agreementImages) {
          const ticket = service.admit({ model, version }, { source: 'eval' });
          try {
            const { result } = await service.segment(ticket, await image.bytes());
            if (result.task === 'classification') {
              throw new SegserveError('QUANTIZE_UNSUPPORTED', {
                model,
                reason: 'it is a classifier: the guard compares masks',
              });
            }
            side.answers.push(result);
          } finally {
            ticket.release();
          }
          bar?.tick(image.name);
        }
      } finally {
        bar?.stop();
      }
    }
    return side;
  }

  #judge(metric: GuardMetric['name'], float: Side, int8: Side): GuardResult {
    const result: GuardResult = { refusals: [] };
    if (float.metric !== undefined && int8.metric !== undefined) {
      const loss = (float.metric - int8.metric) * 100;
      result.metric = { name: metric, float32: float.metric, int8: int8.metric, loss };
      if (loss > this.#bounds.maxLoss) {
        result.refusals.push(
          `${metric} fell from ${float.metric.toFixed(4)} to ${int8.metric.toFixed(4)} on ${this.#inputs.dataset?.description}: ${loss.toFixed(2)} points lost, over the bound of ${this.#bounds.maxLoss}`,
        );
      }
    } else if (this.#inputs.dataset) {
      result.refusals.push(`the labelled set gives no ${metric} (no ground truth the model can score on)`);
    }
    if (float.answers.length > 0) {
      const scores = float.answers.map(
        (answer, i) => compareSegmentations(answer, int8.answers[i]).agreement,
      );
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      result.agreement = { images: scores.length, mean, lowest: Math.min(...scores) };
      if (mean < this.#bounds.minAgreement) {
        result.refusals.push(
          `its masks agree with the float32 ones at ${mean.toFixed(3)} on average over ${scores.length} images, under the bound of ${this.#bounds.minAgreement}`,
        );
      }
    }
    return result;
  }
}
