/**
 * Storage event notifications (src/jobs/events): every format with the payloads of test/jobs/event-payloads.ts,
 * written from each format's published description; malformed bodies refused with a reason a sender can act on;
 * and the sender check.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, isSegserveError, type SegserveError } from '../../src/errors.js';
import {
  type EventRequest,
  MAX_EVENTS_PER_REQUEST,
  parseStorageEvents,
  verifyEventSender,
} from '../../src/jobs/events/index.js';
import {
  binaryRequest,
  CE_BATCH,
  CE_BINARY_GCS,
  CE_BINARY_GENERIC,
  CE_GENERIC,
  CE_S3_ADAPTER,
  CE_STRUCTURED_GCS,
  gcsAttributes,
  gcsCloudEvent,
  HELLO_MD5_HEX,
  jsonRequest,
  MINIO_PUT,
  MINIO_PUT_TAGGING,
  PUBSUB_DELETE,
  PUBSUB_FINALIZE,
  PUBSUB_FINALIZE_NO_PAYLOAD,
  pubsubPush,
  rawRequest,
  S3_MULTI,
  S3_PUT,
  S3_REMOVED,
  S3_TEST_EVENT,
  s3Record,
  storageObject,
} from './event-payloads.js';

function refusal(action: () => unknown): SegserveError {
  try {
    action();
  } catch (error) {
    if (isSegserveError(error)) return error;
    throw error;
  }
  throw new Error('no error was raised');
}

/** The reason EVENT_INVALID gives for `request`. */
function invalidReason(request: EventRequest): string {
  const error = refusal(() => parseStorageEvents(request));
  expect(error.code).toBe('EVENT_INVALID');
  expect(error.status).toBe(400);
  return String(error.details.reason);
}

const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
const CE_JSON = 'application/cloudevents+json; charset=utf-8';
const GCS_SOURCE = '//storage.googleapis.com/projects/_/buckets/uploads';

describe('S3 event notifications', () => {
  it('reads the user guide example PUT: bucket, key, size, eTag, time, an id of bucket, key and sequencer', () => {
    expect(parseStorageEvents(jsonRequest(S3_PUT))).toEqual({
      format: 's3',
      objects: [
        {
          bucket: 'mybucket',
          key: 'HappyFace.jpg',
          size: 1024,
          etag: 'd41d8cd98f00b204e9800998ecf8427e',
          eventId: 's3:mybucket/HappyFace.jpg/sequencer/0055AED6DCD90281E5',
          time: '1970-01-01T00:00:00.000Z',
        },
      ],
      ignored: [],
    });
  });

  it('reads every record of a message, decoding form-encoded keys ("+" a space, UTF-8 percent-encoded)', () => {
    const { format, objects, ignored } = parseStorageEvents(jsonRequest(S3_MULTI));
    expect(format).toBe('s3');
    expect(ignored).toEqual([]);
    expect(objects.map((o) => o.key)).toEqual(['red flower.jpg', 'scans/été 2024/東京.png']);
    expect(objects.map((o) => o.bucket)).toEqual(['photos', 'photos']);
    expect(objects[1]).toMatchObject({ size: 10485760, etag: '9b2cf535f27731c974343645a3985328-2' });
    expect(objects[0].eventId).toBe('s3:photos/red%20flower.jpg/sequencer/0062E99A88DC407460');
  });

  it('decodes %2B to a literal "+", which a raw "+" (a space) is not', () => {
    const body = { Records: [s3Record('ObjectCreated:Copy', { key: 'a%2Bb+c.png', sequencer: '01' })] };
    expect(parseStorageEvents(jsonRequest(body)).objects[0].key).toBe('a+b c.png');
  });

  it('ignores the s3:TestEvent that S3 sends when a configuration is saved, saying why', () => {
    expect(parseStorageEvents(jsonRequest(S3_TEST_EVENT))).toEqual({
      format: 's3',
      objects: [],
      ignored: [
        { type: 's3:TestEvent', reason: expect.stringContaining('check a new notification configuration') },
      ],
    });
  });

  it('ignores an ObjectRemoved record, with its id', () => {
    const { objects, ignored } = parseStorageEvents(jsonRequest(S3_REMOVED));
    expect(objects).toEqual([]);
    expect(ignored).toEqual([
      {
        eventId: 's3:photos/red%20flower.jpg/sequencer/0062E99A88DC407470',
        type: 'ObjectRemoved:Delete',
        reason: 'the object was removed',
      },
    ]);
  });

  it('ignores event names that are no object creation, naming the ones it acts on', () => {
    const body = { Records: [s3Record('ObjectRestore:Completed', { key: 'x.png', eTag: 'abc' })] };
    const { ignored } = parseStorageEvents(jsonRequest(body));
    expect(ignored[0]).toMatchObject({ type: 'ObjectRestore:Completed' });
    expect(ignored[0].reason).toMatch(/not an object creation; segserve acts on ObjectCreated:Put, .*Copy/);
  });

  it('gives a redelivery the same id, and another event on the same key another one', () => {
    const first = parseStorageEvents(jsonRequest(S3_MULTI)).objects[0].eventId;
    expect(parseStorageEvents(jsonRequest(S3_MULTI)).objects[0].eventId).toBe(first);
    const later = {
      Records: [s3Record('ObjectCreated:Put', { key: 'red+flower.jpg', sequencer: '0062E99A88DC4074FF' })],
    };
    expect(parseStorageEvents(jsonRequest(later)).objects[0].eventId).not.toBe(first);
  });

  it('tells events apart by versionId, then eTag, then eventTime where a record has no sequencer', () => {
    const idOf = (object: Record<string, unknown>) =>
      parseStorageEvents(jsonRequest({ Records: [s3Record('ObjectCreated:Post', { key: 'k', ...object })] }))
        .objects[0].eventId;
    expect(idOf({ versionId: 'v1', eTag: 'e' })).toBe('s3:photos/k/versionId/v1');
    expect(idOf({ versionId: null, eTag: 'e' })).toBe('s3:photos/k/eTag/e');
    expect(idOf({})).toBe('s3:photos/k/eventTime/2024-05-01T10%3A20%3A30.456Z');
  });

  it('passes over a key segserve cannot store under (a ".." segment), saying why, rather than refuse the request', () => {
    const body = { Records: [s3Record('ObjectCreated:Put', { key: '..%2Fetc%2Fpasswd', sequencer: '02' })] };
    const { objects, ignored } = parseStorageEvents(jsonRequest(body));
    expect(objects).toEqual([]);
    expect(ignored[0].reason).toBe('segserve cannot read the key "../etc/passwd": it has a ".." segment');
  });

  it(`refuses more than ${MAX_EVENTS_PER_REQUEST} records with BATCH_TOO_LARGE`, () => {
    const record = s3Record('ObjectCreated:Put', { key: 'k', sequencer: '01' });
    const body = { Records: Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, () => record) };
    const error = refusal(() => parseStorageEvents(jsonRequest(body)));
    expect(error.code).toBe('BATCH_TOO_LARGE');
    expect(error.status).toBe(ERROR_CATALOGUE.BATCH_TOO_LARGE.status);
    expect(error.message).toBe(`The batch has 1001 items, over the limit of ${MAX_EVENTS_PER_REQUEST}.`);
  });
});

describe('MinIO webhook notifications', () => {
  it('reads the record of the webhook body: "s3:" event names, keys escaped with url.QueryEscape', () => {
    expect(parseStorageEvents(jsonRequest(MINIO_PUT))).toEqual({
      format: 's3',
      objects: [
        {
          bucket: 'images',
          key: 'photos/cat 1.png',
          size: 48213,
          etag: '3858f62230ac3c915f300c664312c63f',
          eventId: 's3:images/photos%2Fcat%201.png/sequencer/17CB4E2D5B8E4F10',
          time: '2024-05-01T10:20:30.123Z',
        },
      ],
      ignored: [],
    });
  });

  it('ignores the tag, retention and legal-hold changes that MinIO files under s3:ObjectCreated:*', () => {
    const { objects, ignored } = parseStorageEvents(jsonRequest(MINIO_PUT_TAGGING));
    expect(objects).toEqual([]);
    expect(ignored).toEqual([
      {
        eventId: 's3:images/photos%2Fcat%201.png/sequencer/17CB4E2D5B8E4F10',
        type: 's3:ObjectCreated:PutTagging',
        reason: 'it changes the tags, retention or legal hold of an object, not its content',
      },
    ]);
  });
});

describe('CloudEvents', () => {
  const gcsObject = (key: string, id: string) => ({
    bucket: 'uploads',
    key,
    size: 5,
    etag: HELLO_MD5_HEX,
    eventId: `cloudevents:${encodeURIComponent(GCS_SOURCE)}/${id}`,
    time: '2024-05-01T10:20:30.123456Z',
  });

  it('structured mode: a Cloud Storage finalized event, its name as it is (no URL decoding)', () => {
    expect(parseStorageEvents(jsonRequest(CE_STRUCTURED_GCS, CE_JSON))).toEqual({
      format: 'cloudevents',
      objects: [gcsObject('incoming/Straße 5.jpg', '9876543210')],
      ignored: [],
    });
  });

  it('reads a structured event sent as plain application/json', () => {
    const { format, objects } = parseStorageEvents(jsonRequest(CE_STRUCTURED_GCS));
    expect(format).toBe('cloudevents');
    expect(objects[0].key).toBe('incoming/Straße 5.jpg');
  });

  it('takes size and generation as numbers too, and no ETag for an object without MD5 (composite)', () => {
    const event = gcsCloudEvent('google.cloud.storage.object.v1.finalized', 'uploads', 'c.png', '7');
    const composite = {
      ...storageObject('uploads', 'c.png'),
      size: 2239872,
      generation: 96883251,
      md5Hash: undefined,
    };
    const { objects } = parseStorageEvents(jsonRequest({ ...event, data: composite }, CE_JSON));
    expect(objects[0]).toMatchObject({ key: 'c.png', size: 2239872 });
    expect(objects[0].etag).toBeUndefined();
  });

  it('batched mode: creations read, a delete and an unknown type ignored with why', () => {
    const { format, objects, ignored } = parseStorageEvents(
      jsonRequest(CE_BATCH, 'application/cloudevents-batch+json'),
    );
    expect(format).toBe('cloudevents');
    expect(objects).toEqual([
      gcsObject('a.png', '1001'),
      {
        bucket: undefined,
        key: 'mynewfile.jpg',
        eventId: `cloudevents:${encodeURIComponent(CE_GENERIC.source)}/${CE_GENERIC.id}`,
        time: '2024-05-01T10:20:30Z',
      },
    ]);
    expect(ignored).toEqual([
      {
        eventId: `cloudevents:${encodeURIComponent(GCS_SOURCE)}/1002`,
        type: 'google.cloud.storage.object.v1.deleted',
        reason: 'the object was deleted',
      },
      {
        eventId: 'cloudevents:%2Fmycontext/A234-1234-1234',
        type: 'com.example.someevent',
        reason:
          'not an event type segserve acts on (google.cloud.storage.object.v1.finalized, com.amazonaws.s3.ObjectCreated:* and io.segserve.object.created)',
      },
    ]);
  });

  it('batched mode: an empty batch is no events', () => {
    const request = rawRequest('[]', 'application/cloudevents-batch+json');
    expect(parseStorageEvents(request)).toEqual({ format: 'cloudevents', objects: [], ignored: [] });
  });

  it('binary mode: attributes from ce-* headers (percent-decoded), the object resource from the body', () => {
    expect(parseStorageEvents(CE_BINARY_GCS)).toEqual({
      format: 'cloudevents',
      objects: [{ ...gcsObject('incoming/été 2024.jpg', '4242424242') }],
      ignored: [],
    });
  });

  it('binary mode: a generic creation names its key in ce-subject, percent-encoded, with no body', () => {
    expect(parseStorageEvents(CE_BINARY_GENERIC).objects).toEqual([
      {
        bucket: undefined,
        key: 'été 2024/東京.png',
        eventId: 'cloudevents:%2Fstorage%2Ftenant%2Fcontainer/evt-77',
        time: undefined,
      },
    ]);
  });

  it('binary mode: header names in any case, and double-quoted values as older senders wrote them', () => {
    const request: EventRequest = {
      contentType: undefined,
      headers: {
        'CE-SpecVersion': '1.0',
        'Ce-Id': '"quoted \\"id\\""',
        'ce-source': '/src',
        'ce-type': 'io.segserve.object.created',
        'ce-subject': '"my file.png"',
      },
      body: Buffer.alloc(0),
    };
    expect(parseStorageEvents(request).objects[0]).toMatchObject({
      key: 'my file.png',
      eventId: `cloudevents:%2Fsrc/${encodeURIComponent('quoted "id"')}`,
    });
  });

  it('the CloudEvents AWS S3 adapter: the S3 record in data, the CloudEvent identifying the event', () => {
    expect(parseStorageEvents(jsonRequest(CE_S3_ADAPTER, CE_JSON)).objects).toEqual([
      {
        bucket: 'mybucket',
        key: 'HappyFace.jpg',
        size: 1024,
        etag: 'd41d8cd98f00b204e9800998ecf8427e',
        eventId: `cloudevents:${encodeURIComponent(CE_S3_ADAPTER.source)}/${encodeURIComponent(CE_S3_ADAPTER.id)}`,
        time: '1970-01-01T00:00:00.000Z',
      },
    ]);
  });

  it('reads data_base64 as the JSON it encodes', () => {
    const { data, ...event } = CE_STRUCTURED_GCS;
    const request = jsonRequest({ ...event, data_base64: base64(data) }, CE_JSON);
    expect(parseStorageEvents(request).objects[0].key).toBe('incoming/Straße 5.jpg');
  });
});

describe('Pub/Sub push with Cloud Storage notifications', () => {
  const eventId = (messageId: string) =>
    `pubsub:${encodeURIComponent('projects/myproject/subscriptions/segserve-push')}/${messageId}`;

  it('OBJECT_FINALIZE with JSON_API_V1: the object resource from base64 data, its name as it is', () => {
    expect(parseStorageEvents(jsonRequest(PUBSUB_FINALIZE))).toEqual({
      format: 'pubsub',
      objects: [
        {
          bucket: 'uploads',
          key: 'cams/front door+1.jpg',
          size: 5,
          etag: HELLO_MD5_HEX,
          eventId: eventId('2070443601311540'),
          time: '2024-05-01T10:20:30.123456Z',
        },
      ],
      ignored: [],
    });
  });

  it('OBJECT_FINALIZE with payloadFormat NONE: the object from the attributes', () => {
    expect(parseStorageEvents(jsonRequest(PUBSUB_FINALIZE_NO_PAYLOAD)).objects).toEqual([
      {
        bucket: 'uploads',
        key: 'cams/back.jpg',
        eventId: eventId('2070443601311541'),
        time: '2024-05-01T10:20:30.123456Z',
      },
    ]);
  });

  it('ignores OBJECT_DELETE, saying why', () => {
    expect(parseStorageEvents(jsonRequest(PUBSUB_DELETE))).toEqual({
      format: 'pubsub',
      objects: [],
      ignored: [
        { eventId: eventId('2070443601311542'), type: 'OBJECT_DELETE', reason: 'the object was deleted' },
      ],
    });
  });

  it('ignores a message that is no Cloud Storage notification', () => {
    const { ignored } = parseStorageEvents(jsonRequest(pubsubPush({ key: 'value' }, base64({ hello: 1 }))));
    expect(ignored).toEqual([
      {
        eventId: eventId('2070443601311540'),
        type: '(no eventType)',
        reason: 'not a Cloud Storage notification: the message has no eventType attribute',
      },
    ]);
  });

  it('reads the older spelling message_id alone, and the publish time where there is no eventTime', () => {
    const { eventTime: _, ...attributes } = gcsAttributes('OBJECT_FINALIZE', 'uploads', 'x.png');
    const body = {
      message: { attributes, data: base64(storageObject('uploads', 'x.png')), message_id: '136969346945' },
      subscription: 'projects/myproject/subscriptions/segserve-push',
    };
    expect(parseStorageEvents(jsonRequest(body)).objects[0]).toMatchObject({
      eventId: eventId('136969346945'),
      time: undefined,
    });
    const published = { ...body, message: { ...body.message, publishTime: '2021-02-26T19:13:55.749Z' } };
    expect(parseStorageEvents(jsonRequest(published)).objects[0].time).toBe('2021-02-26T19:13:55.749Z');
  });
});

describe('invalid payloads: EVENT_INVALID with a reason the sender can act on', () => {
  const finalized = (data: unknown) =>
    jsonRequest(
      { ...gcsCloudEvent('google.cloud.storage.object.v1.finalized', 'uploads', 'a.png', '1'), data },
      CE_JSON,
    );
  const finalizedPush = (attributes: Record<string, string>, data: string | undefined) =>
    jsonRequest(pubsubPush({ ...gcsAttributes('OBJECT_FINALIZE', 'uploads', 'a.png'), ...attributes }, data));
  const binaryGcs = (attributes: Record<string, string>, body: string, contentType?: string) =>
    binaryRequest(
      {
        specversion: '1.0',
        id: '1',
        source: GCS_SOURCE,
        type: 'google.cloud.storage.object.v1.finalized',
        ...attributes,
      },
      body,
      contentType,
    );
  const structured = (event: Record<string, unknown>) => jsonRequest(event, CE_JSON);
  const s3 = (object: Record<string, unknown>, bucket?: string) =>
    jsonRequest({ Records: [s3Record('ObjectCreated:Put', object, bucket)] });

  const cases: Array<[string, EventRequest, RegExp]> = [
    ['a body that is not JSON', rawRequest('<xml/>'), /^the body is not JSON \(/],
    ['an empty body', rawRequest(''), /^the body is empty$/],
    [
      'JSON of no known shape, listing the formats read',
      jsonRequest({ hello: 'world' }),
      /^the body is an object of no shape segserve reads; segserve reads CloudEvents 1\.0 \(structured application\/cloudevents\+json, batched application\/cloudevents-batch\+json, or binary mode with ce-\* headers\), S3 and MinIO notifications \(\{"Records": \[\.\.\.\]\}\) and Pub\/Sub push/,
    ],
    [
      'a JSON array without the batch content type',
      jsonRequest([CE_GENERIC]),
      /^the body is an array of no shape/,
    ],
    [
      'a CloudEvent without id and source',
      structured({ specversion: '1.0', type: 'io.segserve.object.created', subject: 'a.png' }),
      /^the CloudEvent lacks id, source; every CloudEvent has specversion, id, source and type$/,
    ],
    [
      'a CloudEvent of another specversion',
      structured({ ...CE_GENERIC, specversion: '0.3' }),
      /^the CloudEvent: specversion is "0\.3"; segserve reads CloudEvents 1\.0$/,
    ],
    [
      'a CloudEvent id that is not a string',
      structured({ ...CE_GENERIC, id: 42 }),
      /^the CloudEvent: id must be a non-empty string, not 42$/,
    ],
    [
      'a CloudEvent time that is not RFC 3339',
      structured({ ...CE_GENERIC, time: 'yesterday' }),
      /^the CloudEvent: time "yesterday" is not an RFC 3339 timestamp$/,
    ],
    [
      'a generic creation without subject',
      structured({ ...CE_GENERIC, subject: undefined }),
      /^the CloudEvent has no subject; an event of type io\.segserve\.object\.created names the object's key in subject$/,
    ],
    [
      'a generic creation with an empty subject (an empty key)',
      structured({ ...CE_GENERIC, subject: '' }),
      /^the CloudEvent: subject must be a non-empty string, not ""$/,
    ],
    [
      'a structured event that is not an object',
      rawRequest('[1]', CE_JSON),
      /^the CloudEvent is an array, not a JSON object$/,
    ],
    [
      'an event format other than JSON',
      rawRequest('...', 'application/cloudevents+avro'),
      /^Content-Type application\/cloudevents\+avro is not an event format segserve reads; send application\/cloudevents\+json$/,
    ],
    [
      'a batch that is not an array',
      jsonRequest(CE_GENERIC, 'application/cloudevents-batch+json'),
      /^a batch \(application\/cloudevents-batch\+json\) is a JSON array of CloudEvents, not an object$/,
    ],
    [
      'a batched event without type, named by its position',
      jsonRequest([CE_GENERIC, { ...CE_GENERIC, type: undefined }], 'application/cloudevents-batch+json'),
      /^CloudEvent \[1\] lacks type; /,
    ],
    [
      'both data and data_base64',
      structured({ ...CE_STRUCTURED_GCS, data_base64: 'e30=' }),
      /^the CloudEvent has both data and data_base64; an event has one$/,
    ],
    [
      'a finalized event without data',
      structured({ ...CE_STRUCTURED_GCS, data: undefined }),
      /^data: missing; an event of type google\.cloud\.storage\.object\.v1\.finalized names its object there$/,
    ],
    ['object data without bucket', finalized({ name: 'a.png' }), /^data\.bucket: /],
    [
      'object data with an empty name',
      finalized({ bucket: 'b', name: '' }),
      /^data\.name: the object key is empty$/,
    ],
    ['a size that is not a byte count', finalized({ bucket: 'b', name: 'a', size: 'big' }), /^data\.size: /],
    [
      'an md5Hash that is no MD5',
      finalized({ bucket: 'b', name: 'a', md5Hash: 'AAAA' }),
      /^data\.md5Hash is not an MD5 digest \(3 bytes, not 16\)$/,
    ],
    [
      'binary mode without ce-source',
      binaryRequest({ specversion: '1.0', id: '1', type: 'io.segserve.object.created' }, ''),
      /^the binary-mode CloudEvent lacks ce-source; every CloudEvent has/,
    ],
    [
      'binary mode with a header that is not percent-encoded UTF-8 (an overlong space)',
      binaryRequest({ specversion: '1.0', id: '1', source: '/s', type: 'x', subject: 'a%C0%A0b' }, ''),
      /^ce-subject: "a%C0%A0b" is not percent-encoded UTF-8$/,
    ],
    ['binary mode, data that is not JSON', binaryGcs({}, 'name=a.png'), /^data \(the body\) is not JSON \(/],
    [
      'binary mode, data declared as another type',
      binaryGcs({}, '{}', 'text/plain'),
      /^the binary-mode CloudEvent: the data is text\/plain, but an event of type google\.cloud\.storage\.object\.v1\.finalized carries JSON \(application\/json\)$/,
    ],
    [
      'S3 Records that is not an array',
      jsonRequest({ Records: { eventName: 'ObjectCreated:Put' } }),
      /^Records must be an array of S3 event records, not an object$/,
    ],
    [
      'an S3 record without bucket name',
      s3({ key: 'a', sequencer: '1' }, ''),
      /^Records\[0\]\.s3\.bucket\.name: /,
    ],
    [
      'an S3 key that is not URL-encoded UTF-8',
      s3({ key: 'a%E0%A4%A.png', sequencer: '1' }),
      /^Records\[0\]\.s3\.object\.key: "a%E0%A4%A\.png" is not URL-encoded UTF-8 \(S3 sends keys form-encoded, "\+" for a space\)$/,
    ],
    ['an empty S3 key', s3({ key: '', sequencer: '1' }), /^Records\[0\]: the object key is empty$/],
    [
      'an S3 creation with nothing to tell it from another',
      jsonRequest({ Records: [{ ...s3Record('ObjectCreated:Put', { key: 'a' }), eventTime: undefined }] }),
      /^Records\[0\]\.s3\.object: no sequencer, versionId, eTag or eventTime tells this event/,
    ],
    [
      'a JSON_API_V1 notification without data',
      finalizedPush({}, undefined),
      /^message\.data: missing; a notification with payloadFormat JSON_API_V1 carries the object resource there$/,
    ],
    ['message data that is not base64', finalizedPush({}, '{"name": "a"}'), /^message\.data is not base64$/],
    [
      'message data that is base64 of no JSON',
      finalizedPush({}, Buffer.from('not json').toString('base64')),
      /^message\.data \(decoded from base64\) is not JSON \(/,
    ],
    [
      'a resource with an empty name',
      finalizedPush({}, base64({ bucket: 'uploads', name: '' })),
      /^message\.data\.name: the object key is empty$/,
    ],
    [
      'a payloadFormat Cloud Storage does not send',
      finalizedPush({ payloadFormat: 'XML' }, undefined),
      /^message\.attributes\.payloadFormat: "XML"; Cloud Storage sends JSON_API_V1 or NONE$/,
    ],
    [
      'payloadFormat NONE without objectId',
      jsonRequest(
        pubsubPush({ eventType: 'OBJECT_FINALIZE', payloadFormat: 'NONE', bucketId: 'b' }, undefined),
      ),
      /^message\.attributes: a notification with payloadFormat NONE names the object in bucketId and objectId/,
    ],
    [
      'an eventTime attribute that is not RFC 3339',
      finalizedPush({ eventTime: 'now' }, base64(storageObject('uploads', 'a.png'))),
      /^message\.attributes\.eventTime: /,
    ],
    [
      'a push without messageId',
      jsonRequest({ message: { attributes: {} }, subscription: 'projects/p/subscriptions/s' }),
      /^message\.messageId: missing; Pub\/Sub push sends the id of every message$/,
    ],
    [
      'a push without subscription',
      jsonRequest({ message: { messageId: '1', attributes: {} } }),
      /^subscription: /,
    ],
  ];

  for (const [name, request, reason] of cases) {
    it(name, () => {
      expect(invalidReason(request)).toMatch(reason);
    });
  }

  it(`refuses a batch of more than ${MAX_EVENTS_PER_REQUEST} events with BATCH_TOO_LARGE, before reading them`, () => {
    const batch = Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, () => ({}));
    const error = refusal(() => parseStorageEvents(jsonRequest(batch, 'application/cloudevents-batch+json')));
    expect(error.code).toBe('BATCH_TOO_LARGE');
  });

  it('words the error with the catalogue message', () => {
    const error = refusal(() => parseStorageEvents(rawRequest('')));
    expect(error.message).toBe('The storage event notification cannot be read: the body is empty');
  });
});

describe('verifyEventSender', () => {
  const TOKEN = 'ev-0123456789abcdef';
  const check = (headers: Record<string, string>, query: Record<string, string> = {}, token = TOKEN) =>
    verifyEventSender({ headers, query }, token);
  const refused = (action: () => void) => {
    const error = refusal(action);
    expect(error.code).toBe('EVENT_UNAUTHORIZED');
    expect(error.status).toBe(401);
    return String(error.details.reason);
  };

  it('accepts every sender when no token is configured', () => {
    expect(() => verifyEventSender({ headers: {}, query: {} }, undefined)).not.toThrow();
  });

  it('accepts the token as a bearer token (what MinIO sends for a one-word auth_token), in any case', () => {
    expect(() => check({ authorization: `Bearer ${TOKEN}` })).not.toThrow();
    expect(() => check({ Authorization: `bearer  ${TOKEN}` })).not.toThrow();
  });

  it('accepts the whole Authorization value (MinIO sends a two-word auth_token as it is)', () => {
    expect(() => check({ authorization: TOKEN })).not.toThrow();
    expect(() => check({ authorization: `Token ${TOKEN}` }, {}, `Token ${TOKEN}`)).not.toThrow();
  });

  it('accepts the token query parameter, also beside an Authorization header carrying something else', () => {
    expect(() => check({}, { token: TOKEN })).not.toThrow();
    expect(() =>
      check({ authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig' }, { token: TOKEN }),
    ).not.toThrow();
  });

  it('refuses a request without a token', () => {
    expect(refused(() => check({}))).toBe('the request carries no token');
    expect(refused(() => check({ authorization: '  ' }, { token: '' }))).toBe('the request carries no token');
  });

  it('refuses a wrong token, a token in another scheme, and a token with more or less to it', () => {
    const wrong = 'the token sent is not the one this server accepts';
    expect(refused(() => check({ authorization: 'Bearer not-the-token' }))).toBe(wrong);
    expect(refused(() => check({ authorization: `Basic ${TOKEN}` }))).toBe(wrong);
    expect(refused(() => check({}, { token: `${TOKEN}x` }))).toBe(wrong);
    expect(refused(() => check({}, { token: TOKEN.slice(0, -1) }))).toBe(wrong);
  });

  it('refuses everyone when the configured token is empty, rather than letting an empty setting open the route', () => {
    expect(refused(() => check({ authorization: 'Bearer x' }, {}, ''))).toBe(
      'the token sent is not the one this server accepts',
    );
    expect(refused(() => check({}, {}, ''))).toBe('the request carries no token');
  });

  it('tells the sender how to send the token', () => {
    const error = refusal(() => check({}));
    expect(error.message).toBe(
      'The event sender is not authorised: the request carries no token. Send the event token as "Authorization: Bearer <token>", "Authorization: <token>" or the query parameter token=<token>.',
    );
  });
});
