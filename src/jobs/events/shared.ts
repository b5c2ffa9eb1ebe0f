/** What the event parsers share: the error they throw, schema checks, JSON and base64 reading, ids, headers. */
import { z } from 'zod';
import { isSegserveError, SegserveError } from '../../errors.js';
import { checkKey } from '../../storage/index.js';
import type { EventHeaders, EventOutcome, IgnoredEvent, ObjectCreated } from './types.js';

/**
 * Events one request may carry (S3 records, batched CloudEvents). Real senders send one (MinIO, Pub/Sub push,
 * a CloudEvent) or a few; the cap bounds the work a single body can ask for, before any of it is validated.
 */
export const MAX_EVENTS_PER_REQUEST = 1000;

export function invalid(reason: string): SegserveError {
  return new SegserveError('EVENT_INVALID', { reason });
}

export function checkEventCount(count: number): void {
  if (count > MAX_EVENTS_PER_REQUEST) {
    throw new SegserveError('BATCH_TOO_LARGE', { count, limit: MAX_EVENTS_PER_REQUEST });
  }
}

/** RFC 3339 with a zone (Z or an offset), any fraction: what S3, Pub/Sub and CloudEvents `time` send. */
export const timestamp = z.iso.datetime({ offset: true });

/** `where` and a zod path as one field reference: `Records[0].s3.bucket.name`. */
function fieldOf(where: string, path: readonly PropertyKey[]): string {
  let field = where;
  for (const part of path) {
    if (typeof part === 'number') field += `[${part}]`;
    else field += field === '' ? String(part) : `.${String(part)}`;
  }
  return field === '' ? 'the body' : field;
}

/** Problems shown in one reason; a sender fixes the first ones first, and a body of junk stays a short answer. */
const SHOWN_ISSUES = 3;

/** The value as `schema` reads it, or EVENT_INVALID naming the fields that are wrong (paths from `where`). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${fieldOf(where, issue.path)}: ${issue.message}`);
  const more = issues.length > SHOWN_ISSUES ? ` (and ${issues.length - SHOWN_ISSUES} more)` : '';
  throw invalid(`${issues.slice(0, SHOWN_ISSUES).join('; ')}${more}`);
}

export function parseJson(bytes: Buffer, what: string): unknown {
  if (bytes.length === 0) throw invalid(`${what} is empty`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`${what} is not JSON (${(error as Error).message})`);
  }
}

/** Standard or URL-safe alphabet, padded or not: what Pub/Sub and CloudEvents `data_base64` send. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Strict, where Buffer.from would silently skip characters that are not base64 and decode garbage. */
export function decodeBase64(text: string, what: string): Buffer {
  if (!BASE64.test(text) || text.replace(/=+$/, '').length % 4 === 1) throw invalid(`${what} is not base64`);
  return Buffer.from(text, 'base64');
}

/** The JSON that `text` is the base64 of. */
export function parseBase64Json(text: string, what: string): unknown {
  return parseJson(decodeBase64(text, what), `${what} (decoded from base64)`);
}

/** `scheme:part/part/...`, each part URI-encoded so that a `/` inside a part cannot make two ids alike. */
export function eventIdOf(scheme: 'cloudevents' | 's3' | 'pubsub', ...parts: string[]): string {
  return `${scheme}:${parts.map(encodeURIComponent).join('/')}`;
}

export function ignored(event: IgnoredEvent): EventOutcome {
  return { ignored: event };
}

/**
 * An object to segment. An empty key is a malformed event (no store has one); a key segserve's blob stores refuse
 * (a `..` segment, a leading `/`, control characters: legal in S3) is passed over with why, since refusing the
 * request would only make the sender deliver it again, forever.
 */
export function created(object: ObjectCreated, type: string, where: string): EventOutcome {
  if (object.key === '') throw invalid(`${where}: the object key is empty`);
  try {
    checkKey(object.key);
  } catch (error) {
    if (!isSegserveError(error) || error.code !== 'BLOB_KEY_INVALID') throw error;
    return ignored({
      eventId: object.eventId,
      type,
      reason: `segserve cannot read the key ${JSON.stringify(object.key)}: ${String(error.details.reason)}`,
    });
  }
  return { object };
}

export function splitOutcomes(outcomes: readonly EventOutcome[]): {
  objects: ObjectCreated[];
  ignored: IgnoredEvent[];
} {
  const objects: ObjectCreated[] = [];
  const passed: IgnoredEvent[] = [];
  for (const outcome of outcomes) {
    if ('object' in outcome) objects.push(outcome.object);
    else passed.push(outcome.ignored);
  }
  return { objects, ignored: passed };
}

/** A header by name, whatever its case; a repeated header reads as its values joined, as HTTP defines. */
export function headerOf(headers: EventHeaders, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

/** The media type of a Content-Type value, lower case, without parameters. */
export function mediaTypeOf(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  return type === '' ? undefined : type;
}

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a JSON value is, for a reason: `an array`, `a string`, `null`. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
