/**
 * Blob keys: what every BlobStore adapter accepts, and the content-addressed key of some bytes. One set of
 * rules for all adapters, so a key that works on the filesystem works on S3 and the reverse: the strictest of
 * the two wins (S3's 1024-byte limit; the filesystem's path traversal and separator hazards).
 */
import { createHash } from 'node:crypto';
import { SegserveError } from '../errors.js';

/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

/** C0 control characters (NUL included) and DEL: invisible in logs, and NUL ends a path in the kernel. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(key: string, reason: string): SegserveError {
  return new SegserveError('BLOB_KEY_INVALID', { key: JSON.stringify(key), reason });
}

/** Reasons a key or prefix is refused, checked in order; undefined when it is fine. */
function problemOf(text: string): string | undefined {
  if (CONTROL.test(text)) return 'it contains a control character (NUL, newline...)';
  if (text.includes('\\')) return 'it contains a backslash; keys use / between segments';
  if (text.startsWith('/')) return 'it is absolute (starts with /); keys are relative';
  if (Buffer.byteLength(text, 'utf8') > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/**
 * Throws BLOB_KEY_INVALID unless `key` is a relative path of non-empty segments, none `.` or `..` (which would
 * climb out of a filesystem store's root), without backslashes or control characters, and at most 1024 bytes.
 */
export function checkKey(key: string): void {
  if (key === '') throw invalid(key, 'it is empty');
  const problem = problemOf(key);
  if (problem) throw invalid(key, problem);
  for (const segment of key.split('/')) {
    if (segment === '') throw invalid(key, 'it has an empty segment (// or a trailing /)');
    if (segment === '.' || segment === '..') throw invalid(key, `it has a "${segment}" segment`);
  }
}

/**
 * A listing prefix: any start of a valid key (`''`, `sha256/`, `sha256/a`), so the same rules bar `..` segments,
 * absolute prefixes and control characters; a trailing `/` and a partial last segment are allowed.
 */
export function checkPrefix(prefix: string): void {
  const problem = problemOf(prefix);
  if (problem) throw invalid(prefix, problem);
  const segments = prefix.split('/');
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '' && !last) throw invalid(prefix, 'it has an empty segment (//)');
    if ((segment === '.' || segment === '..') && !last) {
      throw invalid(prefix, `it has a "${segment}" segment`);
    }
  });
}

/** Content types by file extension, for the media segserve stores (images, masks, predictions). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tif: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
  json: 'application/json',
};

const OCTET_STREAM = 'application/octet-stream';

/** The content type of a key from its extension; `application/octet-stream` when it has none we know. */
export function contentTypeOf(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return (dot > 0 && CONTENT_TYPES[name.slice(dot + 1).toLowerCase()]) || OCTET_STREAM;
}

/** The extension for a content type (`image/jpeg` gives `jpg`), or undefined. */
function extensionOf(contentType: string): string | undefined {
  const type = contentType.split(';')[0].trim().toLowerCase();
  return Object.keys(CONTENT_TYPES).find((ext) => CONTENT_TYPES[ext] === type);
}

/** What names the kind of content of a content-addressed blob: an extension, a content type, or neither. */
export interface ContentKind {
  /** File extension without the dot, e.g. `jpg`; wins over `contentType`. */
  ext?: string;
  contentType?: string;
}

/**
 * The content-addressed key of `bytes`: `sha256/<2 hex>/<62 hex>[.ext]`. The two-character folder keeps a
 * filesystem store's folders small (256 of them, each with 1/256 of the blobs), as git does with objects.
 * The same bytes always give the same key, so storing them twice stores them once.
 */
export function contentKey(bytes: Uint8Array, kind: ContentKind = {}): string {
  const ext = kind.ext ?? (kind.contentType === undefined ? undefined : extensionOf(kind.contentType));
  return contentKeyOfHash(createHash('sha256').update(bytes).digest('hex'), ext);
}

/**
 * The content-addressed key of bytes whose hex SHA-256 is `hash`, without the bytes: what a dataset manifest,
 * which lists hashes, needs to find its images and labels again.
 */
export function contentKeyOfHash(hash: string, ext?: string): string {
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `${JSON.stringify(hash)} is not a hex SHA-256` });
  }
  if (ext !== undefined && !/^[a-z0-9]{1,10}$/.test(ext)) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `blob extension ${JSON.stringify(ext)}: expected 1 to 10 lower-case letters or digits`,
    });
  }
  return `sha256/${hash.slice(0, 2)}/${hash.slice(2)}${ext === undefined ? '' : `.${ext}`}`;
}

const CONTENT_KEY = /^sha256\/([0-9a-f]{2})\/([0-9a-f]{62})(?:\.[a-z0-9]{1,10})?$/;

/** The hex SHA-256 a content-addressed key names (the inverse of `contentKey`), or undefined for another key. */
export function contentHashOf(key: string): string | undefined {
  const match = CONTENT_KEY.exec(key);
  return match ? match[1] + match[2] : undefined;
}
