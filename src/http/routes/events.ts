/**
 * `POST /v1/events`: storage notifications (CloudEvents in structured, batch or binary mode; S3 and MinIO bucket
 * notifications; Google Pub/Sub push with Cloud Storage's object-finalize payload) into segmentation jobs, by the
 * rule the server was started with (`--events-model`, `--events-prefix`, `--events-output`). The sender is
 * checked before the body is read when a token is configured (`SEGSERVE_EVENTS_TOKEN`): Bearer, the MinIO
 * `auth_token` header, or `?token=` as Pub/Sub push subscriptions send it.
 *
 * The answer is 202 with the jobs made and the events ignored (and why); a notification delivered twice answers
 * the same job. A bad payload is 400 (EVENT_INVALID), so the sender's own retry or dead-letter policy sees it;
 * a store or queue that is down is 503, which senders retry.
 */
import type { FastifyPluginAsync } from 'fastify';
import { type EventRule, jobsOfEvents } from '../../jobs/event-jobs.js';
import { parseStorageEvents, verifyEventSender } from '../../jobs/events/index.js';
import type { Jobs } from '../../jobs/jobs.js';
import { errorResponses } from '../schemas.js';

export interface EventRouteOptions {
  jobs: Jobs;
  rule: EventRule;
  token?: string;
}

/** A notification of the most events a request may carry (1000, each a few hundred bytes to 2 KB) fits. */
const EVENT_BODY_BYTES = 4 * 1024 * 1024;

export const eventRoutes: FastifyPluginAsync<EventRouteOptions> = async (app, options) => {
  const { jobs, rule, token } = options;
  // The parsers read the raw bytes whatever the type (binary-mode CloudEvents carry any type); encapsulated, so
  // only this route reads bodies this way.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: EVENT_BODY_BYTES }, (_request, body, done) =>
    done(null, body),
  );

  app.post<{ Querystring: { token?: string } }>(
    '/v1/events',
    {
      onRequest: async (request) =>
        verifyEventSender({ headers: request.headers, query: { token: request.query.token } }, token),
      schema: {
        tags: ['jobs'],
        summary: 'Storage events (CloudEvents, S3/MinIO notifications, Pub/Sub push) into segmentation jobs',
        querystring: { type: 'object', properties: { token: { type: 'string' } } },
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const events = parseStorageEvents({
        contentType: request.headers['content-type'],
        headers: request.headers,
        body,
      });
      const answer = await jobsOfEvents(jobs, rule, events);
      if (answer.ignored.length > 0) {
        request.log.info(
          { ignored: answer.ignored.slice(0, 10), format: answer.format },
          'storage events ignored',
        );
      }
      return reply.code(202).send(answer);
    },
  );
};
