/**
 * BlobStore in an S3-protocol bucket through the AWS SDK v3: AWS itself, MinIO, GCS's S3 interface, s3rver in
 * the tests. Keys live under an optional prefix of the bucket (`s3://bucket/prefix`).
 *
 * Choices the servers other than AWS need:
 * - Path-style addressing (`endpoint/bucket/key`): MinIO and s3rver have no per-bucket host names.
 * - Checksums only when an operation requires them: SDK releases since early 2025 add CRC32 checksums to every
 *   upload by default, which S3-compatible servers that predate them (s3rver, older MinIO, GCS) refuse.
 * - Timeouts: the SDK's default is to wait forever for a connection and for an idle socket, so a blackholed
 *   endpoint would hang every write; these turn it into STORAGE_UNAVAILABLE.
 *
 * Errors: a request that got no HTTP answer (refused, reset, timed out, DNS) or a 5xx/429 answer is
 * STORAGE_UNAVAILABLE (retryable); any other refusal (no bucket, access denied, bad credentials, wrong region)
 * is STORAGE_FAILED. The SDK retries each call itself first (`maxAttempts`).
 *
 * This module loads the SDK: storage/open.ts imports it only when an s3:// URL is configured, so a server on the
 * filesystem default neither loads the SDK nor prints its Node.js support warning (it warns once per process,
 * when the first client is created, on Node.js < 22).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SegserveError } from '../errors.js';
import { type ContentKind, checkKey, checkPrefix, contentTypeOf } from './blob-keys.js';
import {
  type BlobInfo,
  type BlobStore,
  type ContentPut,
  type PutOptions,
  putContentVia,
} from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Where the keys live inside the bucket: `''` or a path ending in `/`. */
  prefix: string;
  /** e.g. `http://minio:9000`; undefined for AWS itself. */
  endpoint?: string;
  region: string;
  /** Default: the SDK's chain (AWS_ACCESS_KEY_ID and friends, ~/.aws, web identity, instance metadata). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Keys per listing request (S3's MaxKeys): 1000, S3's maximum, unless a test wants pages smaller. */
  pageSize?: number;
  /** Attempts per call, the SDK's retries included (default 3, the SDK's). */
  maxAttempts?: number;
  /** Longest wait for a connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Longest a socket may stay silent mid-request (default 30 s). */
  socketTimeoutMs?: number;
}

/** What the SDK's errors carry that tells them apart. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3BlobStore implements BlobStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly pageSize: number;

  constructor(options: S3BlobStoreOptions) {
    checkPrefix(options.prefix);
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.pageSize = options.pageSize ?? 1000;
    const where = options.endpoint ?? `AWS region ${options.region}`;
    this.description = `S3 bucket "${options.bucket}"${options.prefix ? ` (prefix "${options.prefix}")` : ''} at ${where}`;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: true,
      credentials: options.credentials,
      maxAttempts: options.maxAttempts,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        socketTimeout: options.socketTimeoutMs ?? 30_000,
      },
    });
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    checkKey(key);
    await this.call(`put ${JSON.stringify(key)}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: bytes,
          ContentType: options.contentType ?? contentTypeOf(key),
        }),
      ),
    );
  }

  async get(key: string): Promise<Uint8Array> {
    checkKey(key);
    return this.call(
      `get ${JSON.stringify(key)}`,
      async () => {
        const answer = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
        );
        // Collects the body's chunks and joins them once: linear in the object's size.
        return (await answer.Body?.transformToByteArray()) ?? new Uint8Array(0);
      },
      key,
    );
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    checkKey(key);
    try {
      const answer = await this.call(
        `head ${JSON.stringify(key)}`,
        () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })),
        key,
      );
      return { key, size: answer.ContentLength ?? 0 };
    } catch (error) {
      if (error instanceof SegserveError && error.code === 'BLOB_NOT_FOUND') return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call(`delete ${JSON.stringify(key)}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })),
    );
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.call(`list ${JSON.stringify(prefix)}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.pageSize,
            ContinuationToken: token,
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) {
          const info: BlobInfo = { key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 };
          if (object.ETag) info.etag = object.ETag;
          yield info;
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  putContent(bytes: Uint8Array, kind?: ContentKind): Promise<ContentPut> {
    return putContentVia(this, bytes, kind);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** Runs one SDK call, turning its failure into a catalogue error; `key` for calls whose 404 means "no such key". */
  private async call<T>(what: string, send: () => Promise<T>, key?: string): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw this.translate(error, what, key);
    }
  }

  private translate(error: unknown, what: string, key: string | undefined): SegserveError {
    const sdk = (error ?? {}) as SdkError;
    const status = sdk.$metadata?.httpStatusCode;
    const reason = `${what}: ${sdk.code ?? sdk.name ?? 'Error'}: ${sdk.message ?? String(error)}`;
    if (key !== undefined && (sdk.name === 'NoSuchKey' || sdk.name === 'NotFound')) {
      return new SegserveError('BLOB_NOT_FOUND', { key, store: this.description });
    }
    // No HTTP answer at all: the network or the server is down. Missing credentials also come without one, but
    // they are a configuration problem that waiting will not fix.
    const unanswered = status === undefined && sdk.name !== 'CredentialsProviderError';
    const code =
      unanswered || (status !== undefined && (status >= 500 || status === 429))
        ? 'STORAGE_UNAVAILABLE'
        : 'STORAGE_FAILED';
    return new SegserveError(code, { store: this.description, reason }, { cause: error });
  }
}
