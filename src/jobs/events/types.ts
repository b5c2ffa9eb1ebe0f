/** What `parseStorageEvents` reads and answers. */

/** Request headers as Node and Fastify give them (a repeated header is an array). */
export type EventHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The parts of a `POST /v1/events` request the parser reads; the body is the raw bytes. */
export interface EventRequest {
  contentType: string | undefined;
  headers: EventHeaders;
  body: Buffer;
}

export type EventFormat = 'cloudevents' | 's3' | 'pubsub';

/** An object that was created (or overwritten) and is to be segmented. */
export interface ObjectCreated {
  /** undefined where the event names no bucket (a generic CloudEvent): the route's configured bucket. */
  bucket: string | undefined;
  /** The object key as stored, decoded (S3 notifications URL-encode it; the others do not). */
  key: string;
  /** Bytes, where the event says. */
  size?: number;
  /**
   * The object's ETag as the S3 API answers it, unquoted, where the event says: S3's and MinIO's `eTag`; for Cloud
   * Storage the hex MD5 (`md5Hash`), which is the ETag of its S3-compatible XML API for non-composite objects.
   */
  etag?: string;
  /**
   * Unique per event and the same on every redelivery of it, for deduplication: `cloudevents:<source>/<id>`,
   * `s3:<bucket>/<key>/sequencer/<sequencer>` (or `versionId`, `eTag`, `eventTime` where there is no sequencer),
   * `pubsub:<subscription>/<messageId>`; each part URI-encoded, so no two events share an id.
   */
  eventId: string;
  /** When it happened, RFC 3339, as the sender wrote it. */
  time?: string;
}

/** An event that is no object creation (a delete, a test event, a type segserve does not act on), and why. */
export interface IgnoredEvent {
  eventId?: string;
  /** The event's type as its sender names it (`ObjectRemoved:Delete`, `s3:TestEvent`, a CloudEvent type...). */
  type: string;
  reason: string;
}

export interface StorageEvents {
  format: EventFormat;
  objects: ObjectCreated[];
  ignored: IgnoredEvent[];
}

/** What one event comes to: an object to segment, or an event passed over. */
export type EventOutcome = { object: ObjectCreated } | { ignored: IgnoredEvent };
