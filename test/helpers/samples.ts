/**
 * Samples for annotation-queue tests, written straight through the storage ports as the sink writes them
 * (migration 2's `samples` row; the image and the prediction's label document in the BlobStore), so the queue is
 * tested without running predictions through a sampler.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import {
  documentFromClassMap,
  encodeLabelDocument,
  type LabelDocument,
  makeDocument,
} from '../../src/learning/label-document.js';
import { toCompressedRle } from '../../src/masks/index.js';
import type { BlobStore, Database, StorageAccess } from '../../src/storage/index.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A PNG of `width` x `height` whose pixels differ with `seed`, so every seed is another image. */
export async function testImage(width: number, height: number, seed: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + seed * 101) % 256;
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A semantic or binary prediction: class `classId` inside the rectangle [x, x+w) x [y, y+h), background elsewhere. */
export function boxPrediction(
  task: 'semantic' | 'binary',
  width: number,
  height: number,
  labels: readonly string[],
  boxes: Array<{ classId: number; x: number; y: number; w: number; h: number }>,
): LabelDocument {
  const map = new Uint8Array(width * height);
  for (const { classId, x, y, w, h } of boxes) {
    for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) map[r * width + c] = classId;
  }
  return documentFromClassMap(task, width, height, labels, map);
}

/** An instance prediction: one scored instance per rectangle. */
export function instancePrediction(
  width: number,
  height: number,
  labels: readonly string[],
  boxes: Array<{ classId: number; score: number; x: number; y: number; w: number; h: number }>,
): LabelDocument {
  return makeDocument(
    'instance',
    width,
    height,
    labels,
    boxes.map(({ classId, score, x, y, w, h }) => {
      const data = new Uint8Array(width * height);
      for (let r = y; r < y + h; r++) for (let c = x; c < x + w; c++) data[r * width + c] = 1;
      return { class_id: classId, score, rle: toCompressedRle({ width, height, data }) };
    }),
  );
}

export interface SampleSeed {
  model: string;
  version?: number;
  image: Uint8Array;
  prediction: LabelDocument;
  uncertainty: number;
  strategy?: string;
  /** Classes present; default: the prediction's. */
  classes?: string[];
  predictedAt?: Date;
}

/** Stores a sample as the sink would; answers its id. */
export async function insertSample(stores: StorageAccess, seed: SampleSeed): Promise<string> {
  const db: Database = await stores.database();
  const blobs: BlobStore = await stores.blobs();
  const version = seed.version ?? 1;
  const { prediction } = seed;
  const imageSha256 = sha256(seed.image);
  const id = sha256(new TextEncoder().encode(`${seed.model}\n${version}\n${imageSha256}`));
  const image = await blobs.putContent(seed.image, { ext: 'png' });
  const stored = await blobs.putContent(encodeLabelDocument(prediction), { ext: 'json' });
  const classes = seed.classes ?? [
    ...new Set(prediction.segments.map((segment) => prediction.labels[segment.class_id])),
  ];
  await db.query(
    `INSERT INTO samples (id, model, version, variant, prediction_id, request_id, source, task, strategy,
       uncertainty, image_key, image_sha256, image_format, width, height, prediction_key, classes, predicted_at)
     VALUES ($1, $2, $3, 'default', $4, NULL, 'test', $5, $6, $7, $8, $9, 'png', $10, $11, $12, $13, $14)`,
    [
      id,
      seed.model,
      version,
      `prediction-${id.slice(0, 8)}`,
      prediction.task,
      seed.strategy ?? 'entropy',
      seed.uncertainty,
      image.key,
      imageSha256,
      prediction.width,
      prediction.height,
      stored.key,
      classes,
      seed.predictedAt ?? new Date('2025-01-01T00:00:00Z'),
    ],
  );
  return id;
}

/** Stores over an already open database and blob store, as the server's lazy storage hands them out. */
export function openedStores(db: Database, blobs: BlobStore): StorageAccess {
  return { database: async () => db, blobs: async () => blobs };
}
