/**
 * A semantic or binary evaluation over a dataset, one image at a time (a model run streams its predictions
 * through it; nothing but the matrix and one row per image is kept): the summed confusion matrix gives the
 * dataset's figures, each image's own matrix its row.
 */
import { SegserveError } from '../errors.js';
import { type ReportMeta, type SemanticReport, semanticReport } from './report.js';
import {
  type ConfusionMatrix,
  confusionMatrix,
  emptyConfusion,
  type SemanticImageRow,
  scoresOf,
} from './semantic.js';

export interface SemanticEvaluatorOptions {
  /** Class names by class id; their number is the number of classes. */
  labels: readonly string[];
  task?: 'semantic' | 'binary';
  /** A truth value left out of every figure (e.g. 255 "void"). */
  ignoreIndex?: number | null;
}

export class SemanticEvaluator {
  readonly matrix: ConfusionMatrix;
  private readonly rows: SemanticImageRow[] = [];
  private readonly ignoreIndex: number | null;

  constructor(private readonly options: SemanticEvaluatorOptions) {
    this.matrix = emptyConfusion(options.labels.length);
    this.ignoreIndex = options.ignoreIndex ?? null;
  }

  /** Adds one image (class maps of the same size); returns its row. Throws EVAL_INPUT_INVALID. */
  add(image: string, truth: Uint8Array, prediction: Uint8Array): SemanticImageRow {
    const own = confusionMatrix(truth, prediction, this.matrix.classes, { ignoreIndex: this.ignoreIndex });
    for (let i = 0; i < own.counts.length; i++) this.matrix.counts[i] += own.counts[i];
    const scores = scoresOf(own);
    const row: SemanticImageRow = {
      image,
      pixels: scores.pixels,
      pixel_accuracy: scores.pixel_accuracy,
      miou: scores.miou,
      mdice: scores.mdice,
    };
    this.rows.push(row);
    return row;
  }

  get images(): number {
    return this.rows.length;
  }

  /** Throws EVAL_DATASET_EMPTY when no image, or no pixel that is not ignored, was added. */
  report(meta: ReportMeta): SemanticReport {
    if (this.rows.length === 0) {
      throw new SegserveError('EVAL_DATASET_EMPTY', { reason: 'no image was evaluated' });
    }
    const scores = scoresOf(this.matrix, this.options.labels);
    if (scores.pixels === 0) {
      throw new SegserveError('EVAL_DATASET_EMPTY', {
        reason: `every ground truth pixel is the ignore index ${this.ignoreIndex}`,
      });
    }
    return semanticReport(
      {
        task: this.options.task ?? (this.matrix.classes === 2 ? 'binary' : 'semantic'),
        matrix: this.matrix,
        scores,
        perImage: this.rows,
        ignoreIndex: this.ignoreIndex,
      },
      meta,
    );
  }
}
