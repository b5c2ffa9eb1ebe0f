/**
 * S3 event notifications, `{"Records": [...]}`, as Amazon S3's "Event message structure" documents them, and
 * MinIO's webhook body, which wraps the same records (`{"EventName": "s3:ObjectCreated:Put", "Key":
 * "bucket/key", "Records": [...]}`, event names with the `s3:` prefix that S3 leaves out). Also S3's
 * `s3:TestEvent` message, sent once when a notification configuration is saved.
 */
import { z } from 'zod';
import {
  checkEventCount,
  created,
  eventIdOf,
  ignored,
  invalid,
  kindOf,
  parseWith,
  splitOutcomes,
  timestamp,
} from './shared.js';
import type { EventOutcome, StorageEvents } from './types.js';

/** Event names (without `s3:`) that put new content at a key. */
const CREATING = new Set([
  'ObjectCreated:Put',
  'ObjectCreated:Post',
  'ObjectCreated:Copy',
  'ObjectCreated:CompleteMultipartUpload',
]);

const TEST_EVENT = 's3:TestEvent';

/** Empty strings read as absent: MinIO has sent `"versionId": ""` for unversioned buckets. */
const optionalText = z
  .string()
  .nullish()
  .transform((text) => text || undefined);

const S3Record = z.object({
  eventName: z.string().min(1),
  eventTime: timestamp.optional(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string(),
      size: z.number().int().nonnegative().optional(),
      eTag: optionalText,
      // S3 documents it as "object version if bucket is versioning-enabled, otherwise null".
      versionId: optionalText,
      sequencer: optionalText,
    }),
  }),
});

type S3Record = z.output<typeof S3Record>;

/** S3 and MinIO encode keys as application/x-www-form-urlencoded: "red flower.jpg" arrives as "red+flower.jpg". */
function decodeKey(key: string, where: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    throw invalid(
      `${where}: ${JSON.stringify(key)} is not URL-encoded UTF-8 (S3 sends keys form-encoded, "+" for a space)`,
    );
  }
}

/**
 * What tells this event from another on the same key, most specific first: the sequencer (S3 sends one with every
 * PUT and DELETE, MinIO with every event), else the version, else the content's ETag (a re-upload of the same
 * bytes then counts as the same event, which needs no second segmentation), else the event time.
 */
function discriminatorOf(record: S3Record): [string, string] | undefined {
  const { sequencer, versionId, eTag } = record.s3.object;
  if (sequencer) return ['sequencer', sequencer];
  if (versionId) return ['versionId', versionId];
  if (eTag) return ['eTag', eTag];
  if (record.eventTime) return ['eventTime', record.eventTime];
  return undefined;
}

/**
 * One S3 event record, at `where` in the body. `givenId` is the id of a CloudEvent that carries the record
 * (the CloudEvents S3 adapter), which then identifies the event instead of the record's own fields.
 */
export function readS3Record(value: unknown, where: string, givenId?: string): EventOutcome {
  const record = parseWith(S3Record, value, where);
  const bucket = record.s3.bucket.name;
  const key = decodeKey(record.s3.object.key, `${where}.s3.object.key`);
  const discriminator = discriminatorOf(record);
  const eventId = givenId ?? (discriminator && eventIdOf('s3', bucket, key, ...discriminator));
  const type = record.eventName;
  const name = type.replace(/^s3:/, '');
  if (CREATING.has(name)) {
    if (eventId === undefined) {
      throw invalid(
        `${where}.s3.object: no sequencer, versionId, eTag or eventTime tells this event from another on the same key`,
      );
    }
    const { size, eTag } = record.s3.object;
    return created({ bucket, key, size, etag: eTag, eventId, time: record.eventTime }, type, where);
  }
  if (name.startsWith('ObjectCreated:')) {
    // MinIO's s3:ObjectCreated:* also covers PutTagging, DeleteTagging, PutRetention and PutLegalHold.
    return ignored({
      eventId,
      type,
      reason: 'it changes the tags, retention or legal hold of an object, not its content',
    });
  }
  if (name.startsWith('ObjectRemoved:')) return ignored({ eventId, type, reason: 'the object was removed' });
  return ignored({
    eventId,
    type,
    reason: `not an object creation; segserve acts on ${[...CREATING].join(', ')}`,
  });
}

export function isS3Notification(body: Record<string, unknown>): boolean {
  return 'Records' in body || body.Event === TEST_EVENT;
}

export function parseS3Notification(body: Record<string, unknown>): StorageEvents {
  if (body.Event === TEST_EVENT) {
    const reason =
      'S3 sends it once to check a new notification configuration; there is no object to segment';
    return { format: 's3', objects: [], ignored: [{ type: TEST_EVENT, reason }] };
  }
  const records = body.Records;
  if (!Array.isArray(records)) {
    throw invalid(`Records must be an array of S3 event records, not ${kindOf(records)}`);
  }
  checkEventCount(records.length);
  const outcomes = records.map((record, index) => readS3Record(record, `Records[${index}]`));
  return { format: 's3', ...splitOutcomes(outcomes) };
}
