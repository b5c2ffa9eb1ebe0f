/**
 * Storage event notifications, for `POST /v1/events`: `verifyEventSender` before the body is read, then
 * `parseStorageEvents`. Pure: no I/O, no state; deduplication by `eventId` and the jobs are the caller's.
 */
export { GENERIC_OBJECT_CREATED_TYPE } from './cloudevents.js';
export { parseStorageEvents } from './parse.js';
export { MAX_EVENTS_PER_REQUEST } from './shared.js';
export type {
  EventFormat,
  EventHeaders,
  EventRequest,
  IgnoredEvent,
  ObjectCreated,
  StorageEvents,
} from './types.js';
export { type EventSenderRequest, verifyEventSender } from './verify.js';
