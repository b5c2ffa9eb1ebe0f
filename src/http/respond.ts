/**
 * Turns a Segmentation into the HTTP answer the client asked for: JSON (default), the mask PNG or the overlay,
 * chosen by `?format=` or else by the Accept header. The service encodes (in a worker thread for large images), as
 * it does for the CLI.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  checkMaskAnswer,
  type MaskAnswer,
  type MaskFormat,
  type SegmentationJsonOptions,
} from '../serving/encode.js';
import type { Segmentation } from '../serving/pipeline.js';
import type { InferenceService } from '../serving/service.js';
import { STAGES, type StageTimings } from '../serving/types.js';
import { ticketOf } from './context.js';

export const ANSWER_FORMATS = ['json', 'mask', 'overlay'] as const;
export type AnswerFormat = (typeof ANSWER_FORMATS)[number];

/** The quality an Accept header gives a media type (exact, then `type/*`, then `*\/*`); 0 when absent. */
function quality(accept: string, type: string): number {
  const [major] = type.split('/');
  let best = { specificity: -1, q: 0 };
  for (const entry of accept.split(',')) {
    const [range, ...params] = entry.trim().toLowerCase().split(';');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity <= best.specificity) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.q;
}

/** `?format=` wins; otherwise a client that prefers image/png to JSON gets the mask PNG. */
export function answerFormat(requested: AnswerFormat | undefined, accept: string | undefined): AnswerFormat {
  if (requested) return requested;
  if (!accept) return 'json';
  return quality(accept, 'image/png') > quality(accept, 'application/json') ? 'mask' : 'json';
}

function serverTiming(timings: StageTimings): string {
  return STAGES.flatMap((stage) => {
    const ms = timings[stage];
    return ms === undefined ? [] : [`${stage};dur=${ms.toFixed(2)}`];
  }).join(', ');
}

/**
 * Refuses, before the body is read or the model runs, an answer made of masks from a model that has none (a
 * classifier): ANSWER_FORMAT_UNSUPPORTED. `mask_format=png` asks for a mask PNG inside the JSON answer.
 */
export function refuseMaskAnswer(
  request: FastifyRequest,
  format: AnswerFormat | 'coco',
  maskFormat?: MaskFormat,
): void {
  const { loaded } = ticketOf(request);
  const answers: Record<AnswerFormat | 'coco', MaskAnswer | undefined> = {
    json: maskFormat === 'png' ? 'mask_format=png' : undefined,
    mask: 'mask PNG',
    overlay: 'overlay',
    coco: 'COCO results',
  };
  const answer = answers[format];
  if (answer) checkMaskAnswer(loaded.name, loaded.config.task, answer);
}

export function describeSegmentation(reply: FastifyReply, seg: Segmentation): void {
  reply.header('x-segserve-model', seg.model).header('x-segserve-version', String(seg.version));
}

export async function sendSegmentation(
  service: InferenceService,
  reply: FastifyReply,
  seg: Segmentation,
  format: AnswerFormat,
  /** The JSON answer's options (mask format, polygon tolerance), or the mask format alone. */
  json: MaskFormat | SegmentationJsonOptions,
): Promise<FastifyReply> {
  describeSegmentation(reply, seg);
  if (format === 'json') {
    const options = typeof json === 'string' ? { maskFormat: json } : json;
    const body = await service.encode(seg, { kind: 'json', options });
    return reply.header('server-timing', serverTiming(body.timings)).send(body);
  }
  const image = await service.encode(seg, { kind: format });
  return reply.header('server-timing', serverTiming(seg.timings)).type('image/png').send(image);
}
