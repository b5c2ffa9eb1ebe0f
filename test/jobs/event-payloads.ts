/**
 * Storage event notifications as their senders deliver them, written from each format's published description
 * (named above each one), for test/jobs/events.test.ts. Keys with spaces and non-ASCII characters appear in each
 * format's own encoding: S3 and MinIO form-encode keys, CloudEvents headers percent-encode, the rest is plain JSON.
 */
import type { EventRequest } from '../../src/jobs/events/index.js';

/** A JSON body as S3 relays, MinIO and Pub/Sub send it. */
export function jsonRequest(body: unknown, contentType = 'application/json'): EventRequest {
  return { contentType, headers: { 'content-type': contentType }, body: Buffer.from(JSON.stringify(body)) };
}

/** Raw bytes, for bodies that are not JSON. */
export function rawRequest(body: string, contentType: string | undefined = 'application/json'): EventRequest {
  return {
    contentType,
    headers: contentType ? { 'content-type': contentType } : {},
    body: Buffer.from(body),
  };
}

/** "hello": MD5 5d41402abc4b2a76b9719d911017c592, which Cloud Storage's JSON API gives as base64. */
export const HELLO_MD5_BASE64 = 'XUFAKrxLKna5cZ2REBfFkg==';
export const HELLO_MD5_HEX = '5d41402abc4b2a76b9719d911017c592';

// ---------------------------------------------------------------------------------------------------------------
// Amazon S3 User Guide, "Event message structure" (notification-content-structure): event version 2.1, eventName
// without the "s3:" prefix, the key URL-encoded ("red flower.jpg" becomes "red+flower.jpg"), a sequencer on PUTs
// and DELETEs.

/** The guide's example "message when an object is created using a PUT request", as printed there. */
export const S3_PUT = {
  Records: [
    {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-west-2',
      eventTime: '1970-01-01T00:00:00.000Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AIDAJDPLRKLG7UEXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'testConfigRule',
        bucket: {
          name: 'mybucket',
          ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
          arn: 'arn:aws:s3:::mybucket',
        },
        object: {
          key: 'HappyFace.jpg',
          size: 1024,
          eTag: 'd41d8cd98f00b204e9800998ecf8427e',
          versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
          sequencer: '0055AED6DCD90281E5',
        },
      },
    },
  ],
};

/** One S3 record of the same structure, varied by `object`, `eventName` and `bucket`. */
export function s3Record(
  eventName: string,
  object: Record<string, unknown>,
  bucket = 'photos',
): Record<string, unknown> {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'eu-west-1',
    eventTime: '2024-05-01T10:20:30.456Z',
    eventName,
    userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
    requestParameters: { sourceIPAddress: '203.0.113.7' },
    responseElements: { 'x-amz-request-id': 'EXAMPLE123', 'x-amz-id-2': 'EXAMPLEhost' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'segserve',
      bucket: {
        name: bucket,
        ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
        arn: `arn:aws:s3:::${bucket}`,
      },
      object,
    },
  };
}

/**
 * Several records in one message: a PUT of "red flower.jpg" (the guide's own encoding example), and a multipart
 * upload of "scans/été 2024/東京.png" (UTF-8, percent-encoded, "+" for the space; "/" left as it is).
 */
export const S3_MULTI = {
  Records: [
    s3Record('ObjectCreated:Put', {
      key: 'red+flower.jpg',
      size: 52311,
      eTag: '0b4ad7b2f3a1c8e9d0f1a2b3c4d5e6f7',
      sequencer: '0062E99A88DC407460',
    }),
    s3Record('ObjectCreated:CompleteMultipartUpload', {
      key: 'scans/%C3%A9t%C3%A9+2024/%E6%9D%B1%E4%BA%AC.png',
      size: 10485760,
      eTag: '9b2cf535f27731c974343645a3985328-2',
      sequencer: '0062E99A88DC407461',
    }),
  ],
};

/** The guide's "Amazon S3 test message", sent once after a notification configuration is saved. */
export const S3_TEST_EVENT = {
  Service: 'Amazon S3',
  Event: 's3:TestEvent',
  Time: '2014-10-13T15:57:02.089Z',
  Bucket: 'bucketname',
  RequestId: '5582815E1AEA5ADF',
  HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
};

/** An s3:ObjectRemoved:Delete record: a sequencer, but no size or eTag (the object is gone). */
export const S3_REMOVED = {
  Records: [s3Record('ObjectRemoved:Delete', { key: 'red+flower.jpg', sequencer: '0062E99A88DC407470' })],
};

// ---------------------------------------------------------------------------------------------------------------
// MinIO bucket notification webhook: internal/event/target/webhook.go posts event.Log{EventName, Key:
// "<bucket>/<object name>", Records: [one event]} as application/json; the record follows S3's structure with
// eventVersion 2.0, eventSource minio:s3, eventName with the "s3:" prefix, the key escaped with Go's
// url.QueryEscape ("/" becomes %2F, a space "+"), the sequencer the hex of the object's modification time.

export const MINIO_PUT = {
  EventName: 's3:ObjectCreated:Put',
  Key: 'images/photos/cat 1.png',
  Records: [
    {
      eventVersion: '2.0',
      eventSource: 'minio:s3',
      awsRegion: '',
      eventTime: '2024-05-01T10:20:30.123Z',
      eventName: 's3:ObjectCreated:Put',
      userIdentity: { principalId: 'minioadmin' },
      requestParameters: { principalId: 'minioadmin', region: '', sourceIPAddress: '172.17.0.1' },
      responseElements: {
        'x-amz-id-2': 'dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8',
        'x-amz-request-id': '17CB4E2D5B5C7E21',
        'x-minio-deployment-id': '9e7f3bb1-9a5f-4b47-9d33-1e4c7a2f0c11',
        'x-minio-origin-endpoint': 'http://172.17.0.2:9000',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'Config',
        bucket: { name: 'images', ownerIdentity: { principalId: 'minioadmin' }, arn: 'arn:aws:s3:::images' },
        object: {
          key: 'photos%2Fcat+1.png',
          size: 48213,
          eTag: '3858f62230ac3c915f300c664312c63f',
          contentType: 'image/png',
          userMetadata: { 'content-type': 'image/png' },
          sequencer: '17CB4E2D5B8E4F10',
        },
      },
      source: { host: '172.17.0.1', port: '', userAgent: 'MinIO (linux; amd64) minio-go/v7.0.70' },
    },
  ],
};

/** MinIO's s3:ObjectCreated:* also names tag changes: same object, same sequencer (its modification time). */
export const MINIO_PUT_TAGGING = {
  ...MINIO_PUT,
  EventName: 's3:ObjectCreated:PutTagging',
  Records: [{ ...MINIO_PUT.Records[0], eventName: 's3:ObjectCreated:PutTagging' }],
};

// ---------------------------------------------------------------------------------------------------------------
// Cloud Storage object resource: googleapis/google-cloudevents proto/google/events/cloud/storage/v1/data.proto
// (StorageObjectData) and the JSON API's storage#object, where int64 fields (size, generation) are strings and
// md5Hash is base64.

export function storageObject(bucket: string, name: string): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/1714558830123456`,
    selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`,
    name,
    bucket,
    generation: '1714558830123456',
    metageneration: '1',
    contentType: 'image/jpeg',
    timeCreated: '2024-05-01T10:20:30.123Z',
    updated: '2024-05-01T10:20:30.123Z',
    storageClass: 'STANDARD',
    timeStorageClassUpdated: '2024-05-01T10:20:30.123Z',
    size: '5',
    md5Hash: HELLO_MD5_BASE64,
    mediaLink: `https://storage.googleapis.com/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?generation=1714558830123456&alt=media`,
    crc32c: 'mnG7TA==',
    etag: 'CMDn7Z2Sx4UDEAE=',
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CloudEvents 1.0 (spec.md, "Context Attributes": specversion, id, source, type required; subject, time optional)
// over the HTTP Protocol Binding 1.0.2. Cloud Storage's types and data: google-cloudevents events.proto
// (google.cloud.storage.object.v1.finalized, ...); Eventarc sets source //storage.googleapis.com/projects/_/buckets/
// <bucket> and subject objects/<name>.

export function gcsCloudEvent(
  type: string,
  bucket: string,
  name: string,
  id: string,
): Record<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: `//storage.googleapis.com/projects/_/buckets/${bucket}`,
    type,
    subject: `objects/${name}`,
    time: '2024-05-01T10:20:30.123456Z',
    datacontenttype: 'application/json',
    data: storageObject(bucket, name),
  };
}

/** HTTP binding 3.2, Structured Content Mode: the JSON event format (json-format.md), data as a JSON value. */
export const CE_STRUCTURED_GCS = gcsCloudEvent(
  'google.cloud.storage.object.v1.finalized',
  'uploads',
  'incoming/Straße 5.jpg',
  '9876543210',
);

/**
 * spec.md, "subject": the spec's own example of a new blob, its name in subject and the container in source, with
 * the type segserve documents for producers of their own (io.segserve.object.created).
 */
export const CE_GENERIC = {
  specversion: '1.0',
  id: 'b7d0a8f0-5c9e-4f3a-8f5e-2a1c3d4e5f60',
  source: 'https://example.com/storage/tenant/container',
  type: 'io.segserve.object.created',
  subject: 'mynewfile.jpg',
  time: '2024-05-01T10:20:30Z',
};

/**
 * HTTP binding 3.3, Batched Content Mode (JSON batch format: an array of JSON-format events): a finalized object,
 * a deleted one, a generic creation, and a type segserve does not act on.
 */
export const CE_BATCH = [
  gcsCloudEvent('google.cloud.storage.object.v1.finalized', 'uploads', 'a.png', '1001'),
  gcsCloudEvent('google.cloud.storage.object.v1.deleted', 'uploads', 'b.png', '1002'),
  CE_GENERIC,
  {
    specversion: '1.0',
    id: 'A234-1234-1234',
    source: '/mycontext',
    type: 'com.example.someevent',
    data_base64: Buffer.from('{"order": 42}').toString('base64'),
  },
];

/**
 * HTTP binding 3.1, Binary Content Mode: attributes in ce-* headers (3.1.3.1), values percent-encoded (3.1.3.2:
 * space, '"', '%' and non-ASCII characters as UTF-8 bytes), the data as the body with its Content-Type.
 */
export function binaryRequest(
  attributes: Record<string, string>,
  data: string,
  contentType?: string,
): EventRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) headers[`ce-${name}`] = value;
  if (contentType) headers['content-type'] = contentType;
  return { contentType, headers, body: Buffer.from(data) };
}

export const CE_BINARY_GCS = binaryRequest(
  {
    specversion: '1.0',
    id: '4242424242',
    source: '//storage.googleapis.com/projects/_/buckets/uploads',
    type: 'google.cloud.storage.object.v1.finalized',
    subject: 'objects/incoming/%C3%A9t%C3%A9%202024.jpg',
    time: '2024-05-01T10:20:30.123456Z',
  },
  JSON.stringify(storageObject('uploads', 'incoming/été 2024.jpg')),
  'application/json; charset=utf-8',
);

/** A generic creation in binary mode: subject "été 2024/東京.png" percent-encoded, and no body at all. */
export const CE_BINARY_GENERIC = binaryRequest(
  {
    specversion: '1.0',
    id: 'evt-77',
    source: '/storage/tenant/container',
    type: 'io.segserve.object.created',
    subject: '%C3%A9t%C3%A9%202024/%E6%9D%B1%E4%BA%AC.png',
  },
  '',
);

/** The CloudEvents AWS S3 adapter (cloudevents/spec adapters/aws-s3.md): type com.amazonaws.s3.<eventName>, data the record. */
export const CE_S3_ADAPTER = {
  specversion: '1.0',
  id: 'C3D13FE58DE4C810.FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
  source: 'aws:s3.us-west-2.mybucket',
  type: 'com.amazonaws.s3.ObjectCreated:Put',
  datacontenttype: 'application/json',
  subject: 'HappyFace.jpg',
  time: '1970-01-01T00:00:00.000Z',
  data: S3_PUT.Records[0],
};

// ---------------------------------------------------------------------------------------------------------------
// Pub/Sub push delivery (Pub/Sub docs, "Push subscriptions", receiving messages): {message: {attributes, data
// (base64), messageId, message_id, publishTime, publish_time}, subscription}. Cloud Storage Pub/Sub notifications
// (Cloud Storage docs, "Pub/Sub notifications for Cloud Storage"): attributes notificationConfig, eventType,
// payloadFormat, bucketId, objectId, objectGeneration, eventTime; data the object resource with JSON_API_V1.

export function pubsubPush(
  attributes: Record<string, string>,
  data: string | undefined,
  messageId = '2070443601311540',
): Record<string, unknown> {
  return {
    message: {
      attributes,
      ...(data === undefined ? {} : { data }),
      messageId,
      message_id: messageId,
      publishTime: '2024-05-01T10:20:31.749Z',
      publish_time: '2024-05-01T10:20:31.749Z',
    },
    subscription: 'projects/myproject/subscriptions/segserve-push',
  };
}

export function gcsAttributes(eventType: string, bucket: string, name: string): Record<string, string> {
  return {
    notificationConfig: 'projects/_/buckets/uploads/notificationConfigs/3',
    eventType,
    payloadFormat: 'JSON_API_V1',
    bucketId: bucket,
    objectId: name,
    objectGeneration: '1714558830123456',
    eventTime: '2024-05-01T10:20:30.123456Z',
  };
}

export const PUBSUB_FINALIZE = pubsubPush(
  gcsAttributes('OBJECT_FINALIZE', 'uploads', 'cams/front door+1.jpg'),
  Buffer.from(JSON.stringify(storageObject('uploads', 'cams/front door+1.jpg'))).toString('base64'),
);

/** payloadFormat NONE: the attributes name the object, there is no data. */
export const PUBSUB_FINALIZE_NO_PAYLOAD = pubsubPush(
  { ...gcsAttributes('OBJECT_FINALIZE', 'uploads', 'cams/back.jpg'), payloadFormat: 'NONE' },
  undefined,
  '2070443601311541',
);

export const PUBSUB_DELETE = pubsubPush(
  gcsAttributes('OBJECT_DELETE', 'uploads', 'cams/old.jpg'),
  Buffer.from(JSON.stringify(storageObject('uploads', 'cams/old.jpg'))).toString('base64'),
  '2070443601311542',
);
