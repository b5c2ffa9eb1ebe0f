/**
 * Where a job reads its inputs and writes its outputs. An output location is a prefix of the server's blob
 * store (`results/run-1/`) or another bucket on the same S3 endpoint (`s3://bucket/prefix/`, with the server's
 * credentials); inputs are keys of the server's store, `s3://bucket/key` objects, or http(s) URLs fetched under
 * the URL policy of `/predict/url` (no private addresses unless allowed).
 *
 * Stores of other buckets are opened on first use and kept for the process: a worker writing thousands of
 * outputs must not build an S3 client per object.
 */
import { SegserveError } from '../errors.js';
import type { UrlFetcher } from '../sources/fetch-url.js';
import { checkKey } from '../storage/blob-keys.js';
import { type BlobSettings, type BlobStore, openBlobStore, type StorageAccess } from '../storage/index.js';
import type { JobInput } from './wire-types.js';

export type BlobLocation = { bucket?: string; prefix: string };

const S3_URL = /^s3:\/\/([^/]+)\/?(.*)$/;

/** The bucket and key (or prefix, possibly empty) of an `s3://bucket/key` URL; undefined for anything else. */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const s3 = S3_URL.exec(url);
  return s3 ? { bucket: s3[1], key: s3[2] } : undefined;
}

function invalid(reason: string): SegserveError {
  return new SegserveError('JOB_INVALID', { reason });
}

/** Checks a key (or a prefix, when it ends in `/`) as the stores will, naming the field in the refusal. */
function checkedKey(text: string, field: string): string {
  try {
    // checkKey refuses a trailing slash; a prefix is checked as the key of an object inside it.
    checkKey(text.endsWith('/') ? `${text}x` : text);
  } catch (error) {
    const reason = error instanceof SegserveError ? error.details.reason : String(error);
    throw invalid(`${field} ${JSON.stringify(text)} is not a valid object key: ${reason}`);
  }
  return text;
}

/** `results/run-1` or `s3://bucket/results/run-1/`: always a prefix ending in `/`. */
export function parseOutputLocation(text: string): BlobLocation {
  const trimmed = text.trim();
  if (trimmed === '') throw invalid('the output location is empty; give a prefix such as results/run-1/');
  const s3 = parseS3Url(trimmed);
  if (s3) {
    const prefix = s3.key === '' || s3.key.endsWith('/') ? s3.key : `${s3.key}/`;
    return { bucket: s3.bucket, prefix: prefix === '' ? '' : checkedKey(prefix, 'output') };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw invalid(
      `output ${JSON.stringify(trimmed)}: give a prefix of the blob store or s3://bucket/prefix/`,
    );
  }
  return { prefix: checkedKey(trimmed.endsWith('/') ? trimmed : `${trimmed}/`, 'output') };
}

export function describeLocation(location: BlobLocation): string {
  return location.bucket === undefined ? location.prefix : `s3://${location.bucket}/${location.prefix}`;
}

/** Checks one input of a submitted job: a key of the server's store, `s3://bucket/key`, or an http(s) URL. */
export function checkInput(input: JobInput): JobInput {
  if ('key' in input) return { key: checkedKey(input.key, 'input key') };
  const s3 = parseS3Url(input.url);
  if (s3) {
    if (s3.key === '' || s3.key.endsWith('/'))
      throw invalid(`input ${input.url} names a prefix, not an object`);
    checkedKey(s3.key, 'input');
    return input;
  }
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw invalid(`input URL ${JSON.stringify(input.url)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`input URL scheme "${url.protocol.slice(0, -1)}" is not read; use http(s), s3 or a key`);
  }
  return input;
}

export class JobStores {
  readonly #storage: StorageAccess;
  readonly #blobs: BlobSettings;
  readonly #buckets = new Map<string, Promise<BlobStore>>();

  constructor(storage: StorageAccess, blobs: BlobSettings) {
    this.#storage = storage;
    this.#blobs = blobs;
  }

  /** The store holding `location` and the prefix to use in it. */
  async at(location: BlobLocation): Promise<{ store: BlobStore; prefix: string }> {
    if (location.bucket === undefined) return { store: await this.#storage.blobs(), prefix: location.prefix };
    return { store: await this.#bucket(location.bucket), prefix: location.prefix };
  }

  /** The bytes of an input. Errors are catalogue codes: BLOB_NOT_FOUND, STORAGE_*, URL_*. */
  async read(input: JobInput, fetcher: UrlFetcher): Promise<Uint8Array> {
    if ('key' in input) return (await this.#storage.blobs()).get(input.key);
    const s3 = S3_URL.exec(input.url);
    if (s3) return (await this.#bucket(s3[1])).get(s3[2]);
    return fetcher.fetch(input.url);
  }

  /** Refuses, before a job is created, a bucket that the configured store cannot reach. */
  checkBucketAllowed(location: BlobLocation): void {
    if (location.bucket !== undefined && this.#blobs.kind !== 's3') {
      throw invalid(
        `s3://${location.bucket}: S3 locations need the server's blob store on S3 (--blob-url s3://...), ` +
          'whose endpoint and credentials they use',
      );
    }
  }

  /**
   * The input that reads the object `key` of `bucket` (an event's object): a key of the server's store when
   * the object is in it (its bucket, under its prefix), else an `s3://` input; undefined when the server's
   * store is a folder and the event names a bucket.
   */
  inputOf(bucket: string | undefined, key: string): JobInput | undefined {
    const settings = this.#blobs;
    if (settings.kind !== 's3') return bucket === undefined ? { key } : undefined;
    if ((bucket === undefined || bucket === settings.bucket) && key.startsWith(settings.prefix)) {
      return { key: key.slice(settings.prefix.length) };
    }
    return bucket === undefined ? undefined : { url: `s3://${bucket}/${key}` };
  }

  /** Refuses an `s3://` input when the server's store is not on S3. */
  checkInputAllowed(input: JobInput): void {
    const s3 = 'url' in input ? S3_URL.exec(input.url) : null;
    if (s3) this.checkBucketAllowed({ bucket: s3[1], prefix: '' });
  }

  #bucket(bucket: string): Promise<BlobStore> {
    const settings = this.#blobs;
    if (settings.kind !== 's3') return Promise.reject(invalid(`s3://${bucket}: the blob store is not on S3`));
    // The server's own bucket with its prefix would be a second client for the same objects: same settings.
    let store = this.#buckets.get(bucket);
    if (!store) {
      store = openBlobStore({ ...settings, bucket, prefix: '' });
      store.catch(() => this.#buckets.delete(bucket));
      this.#buckets.set(bucket, store);
    }
    return store;
  }

  async close(): Promise<void> {
    const stores = await Promise.allSettled(this.#buckets.values());
    this.#buckets.clear();
    for (const store of stores) if (store.status === 'fulfilled') await store.value.close();
  }
}
