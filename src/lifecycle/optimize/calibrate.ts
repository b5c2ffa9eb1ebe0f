/**
 * Calibration: the float32 graph, with the activations to quantise added as outputs, run over the calibration
 * images through the serving core's own preprocessing (the image decoded and resized by src/image, the tensor
 * filled in the runtime's worker as for every request), so the ranges are those of the tensors the model will
 * see in service. An image that cannot be decoded is skipped and reported; none at all is CALIBRATION_EMPTY.
 */
import { SegserveError } from '../../errors.js';
import { decodeForModel, probeImage } from '../../image/index.js';
import type { LoadedVersion } from '../../models/index.js';
import { openVersion } from '../../models/open-version.js';
import { type ActivationRange, type CalibrationMethod, RangeCollector } from '../../models/quantize/index.js';

/** An image read when it is needed (a file, a dataset item). */
export interface CalibrationImage {
  name: string;
  bytes(): Promise<Uint8Array>;
}

export interface CalibrationOptions {
  /** The float32 version being quantised (its config, labels and input). */
  source: LoadedVersion;
  /** The float32 graph with the activations as outputs (calibration-model.ts). */
  calibrationModel: string;
  activations: readonly string[];
  images: readonly CalibrationImage[];
  /** How the calibration images were named on the command line, for errors. */
  sourceName: string;
  method: CalibrationMethod;
  onImage?: (name: string) => void;
}

export interface Calibration {
  ranges: ReadonlyMap<string, ActivationRange>;
  images: number;
  skipped: Array<{ image: string; reason: string }>;
}

/** Another graph of the same model (same input, config and labels), in one session. */
export function openGraph(source: LoadedVersion, modelPath: string): Promise<LoadedVersion> {
  const { name, version, config, labels } = source;
  return openVersion({ name, version, config, labels, modelPath }, { instances: 1 });
}

/** The named float32 tensors of one image, run as the serving core runs it (decode, resize, tensor fill). */
export async function activationValues(
  graph: LoadedVersion,
  bytes: Uint8Array,
  activations: readonly string[],
): Promise<Map<string, Float32Array>> {
  const { config, inputName } = graph;
  const info = await probeImage(bytes, config.max_pixels);
  const { content, transform } = await decodeForModel(bytes, info, config.input, {
    maxPixels: config.max_pixels,
  });
  const run = await graph.runtime.run(
    {},
    { image: { name: inputName, content, transform, input: config.input } },
  );
  return new Map(
    activations.map((activation) => {
      const tensor = run.outputs?.[activation];
      if (tensor?.type !== 'float32') throw new Error(`activation ${activation} is not float32`);
      return [activation, tensor.data as Float32Array];
    }),
  );
}

export async function calibrate(options: CalibrationOptions): Promise<Calibration> {
  const { source, images } = options;
  if (images.length === 0) {
    throw new SegserveError('CALIBRATION_EMPTY', {
      source: options.sourceName,
      reason: 'it holds no image files (JPEG, PNG, WebP, GIF, TIFF, AVIF)',
    });
  }
  const calibration = await openGraph(source, options.calibrationModel);
  const collector = new RangeCollector(options.method);
  const skipped: Calibration['skipped'] = [];
  try {
    for (const image of images) {
      let tensors: Map<string, Float32Array>;
      try {
        tensors = await activationValues(calibration, await image.bytes(), options.activations);
      } catch (error) {
        // Only an unreadable image is skipped; a model that fails fails the calibration.
        if (!(error instanceof SegserveError && error.code.startsWith('IMAGE_'))) throw error;
        skipped.push({ image: image.name, reason: error.message });
        options.onImage?.(image.name);
        continue;
      }
      collector.add(tensors);
      options.onImage?.(image.name);
    }
  } finally {
    await calibration.runtime.close();
  }
  if (collector.images === 0) {
    throw new SegserveError('CALIBRATION_EMPTY', {
      source: options.sourceName,
      reason: `none of its ${images.length} images could be read (${skipped[0]?.reason ?? ''})`,
    });
  }
  return { ranges: collector.ranges(), images: collector.images, skipped };
}
