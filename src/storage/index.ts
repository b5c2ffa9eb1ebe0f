/** The storage ports and how to open them; adapters are reached through open.ts. */
export type { StorageAccess } from './access.js';
export {
  type ContentKind,
  checkKey,
  contentHashOf,
  contentKey,
  contentKeyOfHash,
  contentTypeOf,
} from './blob-keys.js';
export type { BlobInfo, BlobStore, ContentPut, PutOptions } from './blob-store.js';
export type { Database, Queryable, QueryResult, Row, SqlParam, SqlScalar } from './database.js';
export { syncFolder, writeNewFileSynced } from './durable-files.js';
export type { Migration } from './migrate.js';
export { type OpenQueueOptions, openBlobStore, openDatabase, openQueue } from './open.js';
export {
  type ConsumeOptions,
  type Consumer,
  DEAD_LETTERS_KEPT,
  type DeadLetter,
  type DeliveredMessage,
  type FailureNotice,
  type JsonValue,
  PermanentFailure,
  type QueueCounts,
  type QueueMessage,
  type RetryPolicy,
  type WorkQueue,
} from './queue.js';
export {
  type BlobSettings,
  type DatabaseSettings,
  QUEUE_SETTINGS,
  type QueueSettings,
  redisUrlProblem,
  resolveQueueSettings,
  resolveStorageSettings,
  STORAGE_SETTINGS,
  type StorageSettings,
  summarizeStorage,
} from './settings.js';
