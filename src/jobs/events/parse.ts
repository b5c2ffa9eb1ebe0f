/**
 * `parseStorageEvents`: which format a `POST /v1/events` request is in, and the objects it says were created. The
 * Content-Type decides CloudEvents' structured and batched modes, `ce-*` headers its binary mode; otherwise the
 * JSON body's shape decides, since S3, MinIO and Pub/Sub all send plain `application/json` (and relays send
 * anything).
 */
import { isBinaryCloudEvent, parseBatch, parseBinary, parseStructured } from './cloudevents.js';
import { isPubSubPush, parsePubSubPush } from './pubsub.js';
import { isS3Notification, parseS3Notification } from './s3.js';
import { invalid, isObject, kindOf, mediaTypeOf, parseJson } from './shared.js';
import type { EventRequest, StorageEvents } from './types.js';

const STRUCTURED = 'application/cloudevents+json';
const BATCHED = 'application/cloudevents-batch+json';

const ACCEPTED =
  'segserve reads CloudEvents 1.0 (structured application/cloudevents+json, batched ' +
  'application/cloudevents-batch+json, or binary mode with ce-* headers), S3 and MinIO notifications ' +
  '({"Records": [...]}) and Pub/Sub push ({"message": {...}, "subscription": ...})';

/** CloudEvents in another event format (Avro, Protobuf): the binding lets a receiver pass; segserve reads JSON. */
function requireJsonFormat(type: string, expected: string): void {
  if (type !== expected) {
    throw invalid(`Content-Type ${type} is not an event format segserve reads; send ${expected}`);
  }
}

/**
 * The objects a storage notification says were created, and the events it carries that ask for nothing (each with
 * why). Throws EVENT_INVALID for a body none of the formats reads or a malformed event in it (the request as a
 * whole is refused, so the sender learns of it), BATCH_TOO_LARGE over MAX_EVENTS_PER_REQUEST events. The body's
 * size is the route's to bound.
 */
export function parseStorageEvents(request: EventRequest): StorageEvents {
  const type = mediaTypeOf(request.contentType);
  if (type?.startsWith('application/cloudevents-batch')) {
    requireJsonFormat(type, BATCHED);
    return parseBatch(parseJson(request.body, 'the body'));
  }
  if (type?.startsWith('application/cloudevents')) {
    requireJsonFormat(type, STRUCTURED);
    return parseStructured(parseJson(request.body, 'the body'));
  }
  if (isBinaryCloudEvent(request)) return parseBinary(request);
  const body = parseJson(request.body, 'the body');
  if (isObject(body)) {
    if (isS3Notification(body)) return parseS3Notification(body);
    // A structured event sent as plain application/json (curl, hand-written senders): read as it was meant.
    if ('specversion' in body) return parseStructured(body);
    if (isPubSubPush(body)) return parsePubSubPush(body);
  }
  throw invalid(`the body is ${kindOf(body)} of no shape segserve reads; ${ACCEPTED}`);
}
