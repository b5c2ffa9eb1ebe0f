/**
 * Pub/Sub push delivery, `{"message": {"data": <base64>, "attributes": {...}, "messageId", "publishTime"},
 * "subscription"}` (older deliveries spell the ids message_id and publish_time; both are read), carrying Cloud
 * Storage's Pub/Sub notifications: attributes eventType, payloadFormat, bucketId, objectId, eventTime; data the
 * object resource with payloadFormat JSON_API_V1, nothing with NONE.
 */
import { z } from 'zod';
import { NOT_CREATED, storageObjectOf } from './gcs.js';
import {
  created,
  eventIdOf,
  ignored,
  invalid,
  parseBase64Json,
  parseWith,
  splitOutcomes,
  timestamp,
} from './shared.js';
import type { EventOutcome, StorageEvents } from './types.js';

const PushBody = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().min(1).optional(),
    message_id: z.string().min(1).optional(),
    publishTime: timestamp.optional(),
    publish_time: timestamp.optional(),
  }),
  subscription: z.string().min(1),
});

type PushMessage = z.output<typeof PushBody>['message'];

const FINALIZE = 'OBJECT_FINALIZE';

/** Cloud Storage's other event types, and why none of them asks for a segmentation. */
const PASSED_OVER: Readonly<Record<string, string>> = {
  OBJECT_DELETE: NOT_CREATED.deleted,
  OBJECT_ARCHIVE: NOT_CREATED.archived,
  OBJECT_METADATA_UPDATE: NOT_CREATED.metadataUpdated,
};

/** A `message` member is enough to read the body as a push, so that a push missing a field is told which. */
export function isPubSubPush(body: Record<string, unknown>): boolean {
  return 'message' in body;
}

function notificationOf(message: PushMessage, eventId: string): EventOutcome {
  const attributes = message.attributes ?? {};
  const type = attributes.eventType;
  if (type === undefined) {
    return ignored({
      eventId,
      type: '(no eventType)',
      reason: 'not a Cloud Storage notification: the message has no eventType attribute',
    });
  }
  if (type !== FINALIZE) {
    return ignored({ eventId, type, reason: PASSED_OVER[type] ?? `segserve acts on ${FINALIZE} only` });
  }
  // The time of the change itself; the publish time is later (and is all a message without eventTime has).
  const eventTime = parseWith(timestamp.optional(), attributes.eventTime, 'message.attributes.eventTime');
  const time = eventTime ?? message.publishTime ?? message.publish_time;
  const format = attributes.payloadFormat;
  if (format === 'JSON_API_V1') {
    if (!message.data) {
      throw invalid(
        'message.data: missing; a notification with payloadFormat JSON_API_V1 carries the object resource there',
      );
    }
    const resource = parseBase64Json(message.data, 'message.data');
    return created(
      { ...storageObjectOf(resource, 'message.data'), eventId, time },
      type,
      'message.data.name',
    );
  }
  if (format === 'NONE') {
    const { bucketId, objectId } = attributes;
    if (!bucketId || objectId === undefined) {
      throw invalid(
        'message.attributes: a notification with payloadFormat NONE names the object in bucketId and objectId, and one is missing',
      );
    }
    return created({ bucket: bucketId, key: objectId, eventId, time }, type, 'message.attributes.objectId');
  }
  const sent = format === undefined ? 'missing' : JSON.stringify(format);
  throw invalid(`message.attributes.payloadFormat: ${sent}; Cloud Storage sends JSON_API_V1 or NONE`);
}

export function parsePubSubPush(body: unknown): StorageEvents {
  const push = parseWith(PushBody, body, '');
  const messageId = push.message.messageId ?? push.message.message_id;
  if (messageId === undefined) {
    throw invalid('message.messageId: missing; Pub/Sub push sends the id of every message');
  }
  // A message id is unique within its topic only; the subscription stands for the topic, which push bodies omit.
  const eventId = eventIdOf('pubsub', push.subscription, messageId);
  return { format: 'pubsub', ...splitOutcomes([notificationOf(push.message, eventId)]) };
}
