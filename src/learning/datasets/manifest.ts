/**
 * A dataset version's manifest: what the version holds, named by content. One line per image, sorted by image
 * hash, after a line naming the format:
 *
 *     segserve-dataset-manifest 1
 *     <image sha256> <label sha256> <split> <image extension>
 *
 * The version id is the SHA-256 of these bytes, as DVC names a directory by the hash of its listing: the same
 * images with the same labels and splits are the same version wherever and whenever they are snapshotted, and
 * any change of an image, a label or a split is another version. The image's extension (its format, `jpg`,
 * `png`...) completes its content-addressed key (`sha256/ab/cd...jpg`), `-` for a key without one (a format
 * the blob store names no extension for); labels are always `.json`.
 *
 * The split is decided by the image hash alone (splitOf), so adding images never moves another image between
 * train and validation, and every version agrees on where an image belongs.
 */
import { createHash } from 'node:crypto';
import { contentKeyOfHash } from '../../storage/index.js';

export const MANIFEST_HEADER = 'segserve-dataset-manifest 1';

export const SPLITS = ['train', 'validation'] as const;
export type Split = (typeof SPLITS)[number];

/** Share of images in validation: one in five, the usual 80/20. */
export const VALIDATION_FRACTION = 0.2;

export interface ManifestEntry {
  imageSha256: string;
  labelSha256: string;
  split: Split;
  /** Extension of the image's content-addressed key, e.g. `jpg`; NO_EXTENSION when the key has none. */
  imageExt: string;
}

export const NO_EXTENSION = '-';

const HASH = /^[0-9a-f]{64}$/;
const EXTENSION = /^([a-z0-9]{1,10}|-)$/;

/**
 * The split of an image: its hash's first 32 bits as a fraction of 2^32, validation below `validationFraction`.
 * SHA-256 spreads images evenly, and the image alone decides: no other image, no order, no random state.
 */
export function splitOf(imageSha256: string, validationFraction = VALIDATION_FRACTION): Split {
  return Number.parseInt(imageSha256.slice(0, 8), 16) / 2 ** 32 < validationFraction ? 'validation' : 'train';
}

/** The manifest bytes: header, then the entries sorted by image hash (the order the caller gave is irrelevant). */
export function encodeManifest(entries: readonly ManifestEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => (a.imageSha256 < b.imageSha256 ? -1 : 1));
  const lines = sorted.map((e) => `${e.imageSha256} ${e.labelSha256} ${e.split} ${e.imageExt}`);
  return new TextEncoder().encode(`${[MANIFEST_HEADER, ...lines].join('\n')}\n`);
}

export function versionIdOf(manifest: Uint8Array): string {
  return createHash('sha256').update(manifest).digest('hex');
}

/**
 * Reads a stored manifest back. A stored manifest is one segserve wrote, so a malformed one is corruption, not
 * user input: it throws a plain Error naming the line.
 */
export function parseManifest(bytes: Uint8Array): ManifestEntry[] {
  const lines = new TextDecoder().decode(bytes).split('\n');
  if (lines[0] !== MANIFEST_HEADER)
    throw new Error(`not a dataset manifest: it starts ${lines[0].slice(0, 40)}`);
  const entries: ManifestEntry[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '' && i === lines.length - 1) break;
    const [imageSha256, labelSha256, split, imageExt, extra] = lines[i].split(' ');
    const ok =
      HASH.test(imageSha256) &&
      HASH.test(labelSha256 ?? '') &&
      (SPLITS as readonly string[]).includes(split) &&
      EXTENSION.test(imageExt ?? '') &&
      extra === undefined;
    if (!ok) throw new Error(`dataset manifest line ${i + 1} is malformed`);
    entries.push({ imageSha256, labelSha256, split: split as Split, imageExt });
  }
  return entries;
}

export function imageKeyOf(entry: Pick<ManifestEntry, 'imageSha256' | 'imageExt'>): string {
  return contentKeyOfHash(entry.imageSha256, entry.imageExt === NO_EXTENSION ? undefined : entry.imageExt);
}

/** The image's file name in every export: `<sha256>.<ext>`, unique and the same in every version. */
export function imageFileOf(entry: Pick<ManifestEntry, 'imageSha256' | 'imageExt'>): string {
  return entry.imageExt === NO_EXTENSION ? entry.imageSha256 : `${entry.imageSha256}.${entry.imageExt}`;
}

/** Labels are label documents, stored as JSON under their hash. */
export const LABEL_EXT = 'json';

export function labelKeyOf(entry: Pick<ManifestEntry, 'labelSha256'>): string {
  return contentKeyOfHash(entry.labelSha256, LABEL_EXT);
}
