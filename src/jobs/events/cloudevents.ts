/**
 * CloudEvents 1.0 over HTTP, in the three content modes of the HTTP protocol binding (section 3): structured
 * (`application/cloudevents+json`, one event in the JSON event format), batched (`application/cloudevents-batch+json`,
 * a JSON array of them) and binary (attributes in `ce-*` headers, the body is the data, Content-Type its type).
 *
 * Event types acted on:
 * - `google.cloud.storage.object.v1.finalized` (Eventarc, Cloud Storage): data is the object resource. The other
 *   `google.cloud.storage.object.v1.*` types are ignored with why.
 * - `com.amazonaws.s3.<eventName>` (the CloudEvents AWS S3 adapter): data is one S3 event record.
 * - `io.segserve.object.created`, for any other producer: `subject` is the key, as the CloudEvents spec's own
 *   example of `subject` has it (a new blob's name, in the container that `source` names); the bucket is the
 *   route's.
 * Any other type is ignored with why. The event's id is its `source` and `id`, which CloudEvents makes unique.
 */
import { NOT_CREATED, storageObjectOf } from './gcs.js';
import { readS3Record } from './s3.js';
import {
  checkEventCount,
  created,
  eventIdOf,
  headerOf,
  ignored,
  invalid,
  isJsonMediaType,
  isObject,
  kindOf,
  mediaTypeOf,
  parseBase64Json,
  parseJson,
  splitOutcomes,
  timestamp,
} from './shared.js';
import type { EventOutcome, EventRequest, StorageEvents } from './types.js';

export const GENERIC_OBJECT_CREATED_TYPE = 'io.segserve.object.created';
const GCS_OBJECT = 'google.cloud.storage.object.v1.';
const GCS_FINALIZED = `${GCS_OBJECT}finalized`;
const S3_ADAPTER = 'com.amazonaws.s3.';
const ACTED_ON = `${GCS_FINALIZED}, ${S3_ADAPTER}ObjectCreated:* and ${GENERIC_OBJECT_CREATED_TYPE}`;

const REQUIRED = ['specversion', 'id', 'source', 'type'] as const;

interface CloudEvent {
  id: string;
  source: string;
  type: string;
  subject: string | undefined;
  time: string | undefined;
  /** The data as JSON; called only by the types that read it, so the others may carry anything. */
  data: () => unknown;
  /** The event in a reason (`the CloudEvent`, `CloudEvent [2]`), and where its data is. */
  where: string;
  dataWhere: string;
}

/** The context attributes, read by `get` and named in reasons by `label` (`id`, or `ce-id` in binary mode). */
function contextOf(
  get: (name: string) => unknown,
  label: (name: string) => string,
  where: string,
): Omit<CloudEvent, 'data' | 'where' | 'dataWhere'> {
  const text = (name: string): string | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw invalid(`${where}: ${label(name)} must be a non-empty string, not ${JSON.stringify(value)}`);
    }
    return value;
  };
  const values = REQUIRED.map(text);
  const missing = REQUIRED.filter((_, index) => values[index] === undefined);
  if (missing.length > 0) {
    throw invalid(
      `${where} lacks ${missing.map(label).join(', ')}; every CloudEvent has specversion, id, source and type`,
    );
  }
  const [specversion, id, source, type] = values as string[];
  if (specversion !== '1.0') {
    throw invalid(`${where}: ${label('specversion')} is "${specversion}"; segserve reads CloudEvents 1.0`);
  }
  const time = text('time');
  if (time !== undefined && !timestamp.safeParse(time).success) {
    throw invalid(`${where}: ${label('time')} "${time}" is not an RFC 3339 timestamp`);
  }
  return { id, source, type, subject: text('subject'), time };
}

/** Data read as JSON must be declared as JSON, where its type is declared at all. */
function requireJsonData(dataType: string | undefined, where: string, type: string): void {
  if (dataType !== undefined && !isJsonMediaType(dataType)) {
    throw invalid(
      `${where}: the data is ${dataType}, but an event of type ${type} carries JSON (application/json)`,
    );
  }
}

function outcomeOf(event: CloudEvent): EventOutcome {
  const { type, time, where, dataWhere } = event;
  const eventId = eventIdOf('cloudevents', event.source, event.id);
  if (type === GCS_FINALIZED) {
    return created({ ...storageObjectOf(event.data(), dataWhere), eventId, time }, type, `${dataWhere}.name`);
  }
  if (type.startsWith(GCS_OBJECT)) {
    const change = type.slice(GCS_OBJECT.length);
    const reason = Object.hasOwn(NOT_CREATED, change)
      ? NOT_CREATED[change as keyof typeof NOT_CREATED]
      : `segserve acts on ${GCS_FINALIZED} only`;
    return ignored({ eventId, type, reason });
  }
  if (type.startsWith(S3_ADAPTER)) return readS3Record(event.data(), dataWhere, eventId);
  if (type === GENERIC_OBJECT_CREATED_TYPE) {
    if (event.subject === undefined) {
      throw invalid(`${where} has no subject; an event of type ${type} names the object's key in subject`);
    }
    return created({ bucket: undefined, key: event.subject, eventId, time }, type, `${where} subject`);
  }
  return ignored({ eventId, type, reason: `not an event type segserve acts on (${ACTED_ON})` });
}

/** One event of the JSON event format: attributes and data (or data_base64) as members of one object. */
function structuredEvent(value: unknown, where: string, dataWhere: string): EventOutcome {
  if (!isObject(value)) throw invalid(`${where} is ${kindOf(value)}, not a JSON object`);
  const context = contextOf(
    (name) => value[name],
    (name) => name,
    where,
  );
  const data = (): unknown => {
    const dataType = value.datacontenttype;
    requireJsonData(typeof dataType === 'string' ? mediaTypeOf(dataType) : undefined, where, context.type);
    if (value.data_base64 !== undefined) {
      if (value.data !== undefined) throw invalid(`${where} has both data and data_base64; an event has one`);
      if (typeof value.data_base64 !== 'string') throw invalid(`${where}: data_base64 must be a string`);
      return parseBase64Json(value.data_base64, `${dataWhere}_base64`);
    }
    if (value.data === undefined) {
      throw invalid(`${dataWhere}: missing; an event of type ${context.type} names its object there`);
    }
    return value.data;
  };
  return outcomeOf({ ...context, data, where, dataWhere });
}

export function parseStructured(body: unknown): StorageEvents {
  return { format: 'cloudevents', ...splitOutcomes([structuredEvent(body, 'the CloudEvent', 'data')]) };
}

export function parseBatch(body: unknown): StorageEvents {
  if (!Array.isArray(body)) {
    throw invalid(
      `a batch (application/cloudevents-batch+json) is a JSON array of CloudEvents, not ${kindOf(body)}`,
    );
  }
  checkEventCount(body.length);
  const outcomes = body.map((event, index) =>
    structuredEvent(event, `CloudEvent [${index}]`, `[${index}].data`),
  );
  return { format: 'cloudevents', ...splitOutcomes(outcomes) };
}

/**
 * A `ce-*` header value as the binding (3.1.3.2) says to read one: a double-quoted string unescaped first (older
 * senders quote), then one round of percent-decoding, refusing bytes that are not UTF-8.
 */
function headerText(raw: string, header: string): string {
  const trimmed = raw.trim();
  const quoted = /^"(.*)"$/s.exec(trimmed);
  const unquoted = quoted ? quoted[1].replace(/\\(.)/gs, '$1') : trimmed;
  try {
    return decodeURIComponent(unquoted);
  } catch {
    throw invalid(`${header}: ${JSON.stringify(raw)} is not percent-encoded UTF-8`);
  }
}

/** The binding's hint for telling binary mode apart: the message carries CloudEvents attributes as headers. */
export function isBinaryCloudEvent(request: EventRequest): boolean {
  return headerOf(request.headers, 'ce-specversion') !== undefined;
}

export function parseBinary(request: EventRequest): StorageEvents {
  const where = 'the binary-mode CloudEvent';
  const get = (name: string): string | undefined => {
    const raw = headerOf(request.headers, `ce-${name}`);
    return raw === undefined ? undefined : headerText(raw, `ce-${name}`);
  };
  const context = contextOf(get, (name) => `ce-${name}`, where);
  const data = (): unknown => {
    requireJsonData(mediaTypeOf(request.contentType), where, context.type);
    return parseJson(request.body, 'data (the body)');
  };
  return {
    format: 'cloudevents',
    ...splitOutcomes([outcomeOf({ ...context, data, where, dataWhere: 'data' })]),
  };
}
