/**
 * Storage events into jobs: each "object created" under the configured prefix becomes a job of one input,
 * whose outputs go to the configured output prefix (named like the object, relative to the prefix). The
 * event's id is the job's idempotency key, so a notification delivered twice (S3, MinIO and Pub/Sub all
 * deliver at least once) makes one job. An object outside the prefix, or in a bucket this server cannot read,
 * is ignored and said so in the answer.
 */
import type { ObjectCreated, StorageEvents } from './events/index.js';
import type { Jobs } from './jobs.js';
import {
  type BlobLocation,
  describeLocation,
  type JobStores,
  parseOutputLocation,
  parseS3Url,
} from './locations.js';
import type { JobFormat, JobInput, JobTarget } from './wire-types.js';

export interface EventRule {
  target: JobTarget;
  /** Objects under this prefix of the server's store (or `s3://bucket/prefix/`) are segmented. */
  prefix: string;
  output: string;
  formats: JobFormat[];
}

export interface EventJob {
  event: string;
  key: string;
  job: string;
  /** False when an earlier delivery of the same event made the job. */
  created: boolean;
}

export interface EventIgnored {
  event?: string;
  type?: string;
  key?: string;
  reason: string;
}

export interface EventAnswer {
  format: StorageEvents['format'];
  jobs: EventJob[];
  ignored: EventIgnored[];
}

/** Checks a rule at start, so a bad prefix or output is refused before the first event. */
export function checkEventRule(rule: EventRule, stores: JobStores): BlobLocation {
  const prefix = parseOutputLocation(rule.prefix);
  stores.checkBucketAllowed(prefix);
  stores.checkBucketAllowed(parseOutputLocation(rule.output));
  return prefix;
}

function under(input: JobInput, prefix: BlobLocation): boolean {
  if ('key' in input) return prefix.bucket === undefined && input.key.startsWith(prefix.prefix);
  const s3 = parseS3Url(input.url);
  return s3 !== undefined && s3.bucket === prefix.bucket && s3.key.startsWith(prefix.prefix);
}

export async function jobsOfEvents(jobs: Jobs, rule: EventRule, events: StorageEvents): Promise<EventAnswer> {
  const { stores } = jobs;
  const prefix = checkEventRule(rule, stores);
  const answer: EventAnswer = {
    format: events.format,
    jobs: [],
    ignored: events.ignored.map((event) => ({
      event: event.eventId,
      type: event.type,
      reason: event.reason,
    })),
  };
  const ignore = (object: ObjectCreated, reason: string) =>
    answer.ignored.push({ event: object.eventId, key: object.key, reason });
  for (const object of events.objects) {
    const input = stores.inputOf(object.bucket, object.key);
    if (!input) {
      ignore(
        object,
        object.bucket === undefined
          ? "the event names no bucket, and the key is not under the server's blob store prefix"
          : `bucket ${object.bucket} is not one this server reads (its blob store is not on S3)`,
      );
      continue;
    }
    if (!under(input, prefix)) {
      ignore(object, `outside the configured prefix ${describeLocation(prefix)}`);
      continue;
    }
    const { job, created } = await jobs.submit({
      target: rule.target,
      inputs: [input],
      output: rule.output,
      formats: rule.formats,
      idempotencyKey: `event:${object.eventId}`,
      relativeTo: prefix,
      sharedOutput: true,
      source: 'event',
      createdBy: `events (${events.format})`,
    });
    answer.jobs.push({ event: object.eventId, key: object.key, job: job.id, created });
  }
  return answer;
}
