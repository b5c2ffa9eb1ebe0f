/**
 * What an evaluation reads from a dataset, whatever its source (a COCO instances file, a mask folder, a dataset
 * version): its classes and, per image, the bytes and the ground truth, each read when the runner asks for it,
 * so a large dataset is never held in memory at once (COCO ground truth excepted: COCO's evaluation needs every
 * annotation before it can match any, as pycocotools does).
 */
import type { Split } from '../../learning/datasets/index.js';

/** Where a dataset comes from, as `parseDatasetSource` reads the `--dataset` text. */
export type DatasetSourceSpec =
  | {
      /**
       * A COCO instances JSON file, or a folder: one with `manifest.csv` is a mask folder, one with
       * `annotations/instances.json` a COCO dataset.
       */
      kind: 'path';
      path: string;
    }
  | {
      kind: 'dataset';
      name: string;
      /** A version id, a unique prefix of one (at least 4 characters) or `latest`. */
      ref: string;
      /** Only the images of this split (`#validation`); every image when absent. */
      split?: Split;
    };

/** One COCO image entry of a ground truth (what the runner needs of it). */
export interface CocoImageRef {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

/**
 * A COCO instances document as the instance evaluator reads it: `images`, `annotations`, `categories`. Kept as
 * read (crowd regions, areas and every field the evaluation reads), only its shape checked.
 */
export interface CocoGroundTruth {
  images: CocoImageRef[];
  annotations: unknown[];
  categories: Array<{ id: number; name: string }>;
  [key: string]: unknown;
}

export interface EvaluationImage {
  /** How the report and messages name the image: its file name, or `<sha256>.<ext>` in a dataset version. */
  name: string;
  /** COCO image id (instance datasets); the position in the dataset counted from 1 (class maps). */
  imageId: number;
  bytes(): Promise<Uint8Array>;
}

/** How class ids are read from masks that carry no class names: the model's class count and task decide. */
export interface ClassMapFormat {
  /** Class ids run 0..classes-1. */
  classes: number;
  /** A binary dataset's masks may mark the foreground 255 as well as 1. */
  binary: boolean;
}

export interface ClassMapImage extends EvaluationImage {
  /**
   * The dataset class id of every pixel, row-major, at `width` x `height`: the image as the model saw it
   * (EXIF orientation applied). Masks saved smaller than their image are resized with nearest-neighbour.
   */
  classMap(width: number, height: number, format: ClassMapFormat): Promise<Uint8Array>;
}

interface DatasetBase {
  /** The source as it was given (`--dataset`), for the report. */
  source: string;
  /** One line for people: what was read (format, dataset name and version, split). */
  description: string;
  /**
   * How reports name the dataset when not by `source`: a path relative to the evaluation root, a dataset version
   * by its full id (`dataset:faces@<id>#validation`), so a recorded evaluation says exactly what was read.
   */
  reportName?: string;
  /** Images to evaluate. */
  size: number;
}

export interface InstanceDataset extends DatasetBase {
  kind: 'instances';
  groundTruth: CocoGroundTruth;
  /** The category names, which the model's labels are matched with. */
  classes: string[];
  image(index: number): EvaluationImage;
}

export interface ClassMapDataset extends DatasetBase {
  kind: 'class-maps';
  /**
   * Class names by class id, class 0 the background; undefined for a mask folder without `labels.txt`, whose
   * class ids are taken to be the model's.
   */
  classes: string[] | undefined;
  /** The dataset says it is binary (two classes, masks 0/255 allowed). */
  binary: boolean;
  image(index: number): ClassMapImage;
}

export type EvaluationDataset = InstanceDataset | ClassMapDataset;
