/**
 * The Cloud Storage object resource (`storage#object` of the JSON API, `StorageObjectData` in Google's CloudEvents):
 * the payload of Pub/Sub notifications with payloadFormat JSON_API_V1, and the data of Eventarc's
 * `google.cloud.storage.object.v1.*` CloudEvents. Object names are plain text, not URL-encoded.
 */
import { z } from 'zod';
import { decodeBase64, invalid, parseWith } from './shared.js';

/**
 * int64 fields are decimal strings in the JSON API and numbers in some CloudEvents encodings; both are read. Fifteen
 * digits stay exact in a double (petabytes, where Cloud Storage objects stop at 5 TiB).
 */
const byteCount = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d{1,15}$/, 'expected a decimal byte count')
    .transform(Number),
]);

const StorageObject = z.object({
  bucket: z.string().min(1),
  name: z.string(),
  size: byteCount.optional(),
  md5Hash: z.string().optional(),
});

/** Why the object events other than finalized ask for no segmentation, by Eventarc's type suffix. */
export const NOT_CREATED = {
  deleted: 'the object was deleted',
  archived: 'the live version of the object became noncurrent (archived, or overwritten by a new one)',
  metadataUpdated: "only the object's metadata changed",
} as const;

const MD5_BYTES = 16;

/**
 * The MD5 as hex: what Cloud Storage's XML API, the one S3 clients speak, answers as the ETag of a non-composite
 * object. The resource's own `etag` is a JSON API value that no S3 request would match. Composite objects have
 * no MD5, and so no ETag here.
 */
function etagOf(md5Hash: string, where: string): string {
  const digest = decodeBase64(md5Hash, where);
  if (digest.length !== MD5_BYTES)
    throw invalid(`${where} is not an MD5 digest (${digest.length} bytes, not 16)`);
  return digest.toString('hex');
}

export function storageObjectOf(
  value: unknown,
  where: string,
): { bucket: string; key: string; size?: number; etag?: string } {
  const object = parseWith(StorageObject, value, where);
  const etag = object.md5Hash === undefined ? undefined : etagOf(object.md5Hash, `${where}.md5Hash`);
  return { bucket: object.bucket, key: object.name, size: object.size, etag };
}
