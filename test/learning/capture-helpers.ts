/** What the sample-capture tests share: a sampled tiny model, distinct images it knows, and a store to fail. */
import { SegserveError } from '../../src/errors.js';
import type { SampleStores } from '../../src/learning/capture/index.js';
import type { BlobStore, Database } from '../../src/storage/index.js';
import { semanticScene, tinySoftmaxModel } from '../helpers/tiny-models.js';
import { type ModelFolder, png } from '../http/helpers.js';

/** The tiny softmax model with `sampling:` keeping every prediction (unless another block is given). */
export function sampledSoftmax(sampling: unknown = { random: { fraction: 1 } }): ModelFolder {
  const model = tinySoftmaxModel();
  return { ...model, config: { ...(model.config as Record<string, unknown>), sampling } };
}

/**
 * The softmax scene with pixel (0, 0) set from `i`: distinct bytes per `i` (up to 100^3), the same prediction
 * (channels under 100 of 255 stay background for the tiny softmax model).
 */
export async function distinctScene(i: number): Promise<Uint8Array> {
  const image = semanticScene();
  image.data.set([i % 100, Math.floor(i / 100) % 100, Math.floor(i / 10_000) % 100], 0);
  return new Uint8Array(await png(image));
}

export type Fault = 'none' | 'open-unavailable' | 'write-unavailable' | 'refused';

/**
 * Real stores behind a switch: `open-unavailable` fails the opens as LazyStorage does when a server is down,
 * `write-unavailable` fails blob writes with STORAGE_UNAVAILABLE (a store that went away after its open), and
 * `refused` answers STORAGE_FAILED (a bucket that does not exist). Counts the writes that reached the stores.
 */
export class SwitchableStores implements SampleStores {
  fault: Fault = 'none';
  puts = 0;
  readonly #blobs: BlobStore;

  constructor(
    blobs: BlobStore,
    readonly db: Database,
  ) {
    const failure = () => {
      if (this.fault === 'write-unavailable') {
        return new SegserveError('STORAGE_UNAVAILABLE', { store: 'test', reason: 'switched off' });
      }
      if (this.fault === 'refused') {
        return new SegserveError('STORAGE_FAILED', { store: 'test', reason: 'NoSuchBucket (switched)' });
      }
      return undefined;
    };
    this.#blobs = {
      description: blobs.description,
      put: (key, bytes, options) => blobs.put(key, bytes, options),
      get: (key) => blobs.get(key),
      head: (key) => blobs.head(key),
      exists: (key) => blobs.exists(key),
      delete: (key) => blobs.delete(key),
      list: (prefix) => blobs.list(prefix),
      close: () => blobs.close(),
      putContent: async (bytes, kind) => {
        const error = failure();
        if (error) throw error;
        this.puts++;
        return blobs.putContent(bytes, kind);
      },
    };
  }

  blobs(): Promise<BlobStore> {
    return this.fault === 'open-unavailable' ? Promise.reject(this.#down()) : Promise.resolve(this.#blobs);
  }

  database(): Promise<Database> {
    return this.fault === 'open-unavailable' ? Promise.reject(this.#down()) : Promise.resolve(this.db);
  }

  #down(): SegserveError {
    return new SegserveError('STORAGE_UNAVAILABLE', { store: 'test', reason: 'connection refused' });
  }
}
