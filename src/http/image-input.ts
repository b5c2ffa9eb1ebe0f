/**
 * Finds the image in a request, whichever way the client sent it: a multipart file (field `file` or `image`),
 * the raw body, or a JSON body `{"url": ...}` / `{"image": "<base64>"}`. The declared content type decides
 * nothing about the image: bytes that start like an image are the image, whatever the header says, and the
 * image layer sniffs them again before decoding. Only bodies that are not an image are read as JSON.
 */
import type { FastifyRequest } from 'fastify';
import { SegserveError } from '../errors.js';
import { sniffImageFormat } from '../image/index.js';
import type { HttpContext } from './context.js';

/** Multipart field names read as the image, in the order the common clients use them. */
export const IMAGE_FIELDS = ['file', 'image'] as const;

export const IMAGE_JSON_SCHEMA = {
  type: 'object',
  description: 'The image by URL (fetched by the server; private addresses are refused) or as base64.',
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 4096, description: 'http(s) URL of the image.' },
    image: { type: 'string', minLength: 1, description: 'The image file in base64, or a data: URL.' },
  },
  oneOf: [{ required: ['url'] }, { required: ['image'] }],
} as const;

/** The request body forms an image route takes, for its OpenAPI entry. */
export const IMAGE_REQUEST_BODY = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        description: `The image file in one of the fields ${IMAGE_FIELDS.join(', ')}.`,
        properties: Object.fromEntries(IMAGE_FIELDS.map((f) => [f, { type: 'string', format: 'binary' }])),
      },
    },
    'application/json': { schema: IMAGE_JSON_SCHEMA },
    'application/octet-stream': {
      schema: {
        type: 'string',
        format: 'binary',
        description: 'The image file as the body, any content type: the bytes decide the format.',
      },
    },
  },
} as const;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function decodeBase64(text: string): Buffer {
  const payload = text.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (!BASE64.test(payload) && !BASE64URL.test(payload)) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: '"image" is not base64', field: 'image' });
  }
  return Buffer.from(payload, BASE64.test(payload) ? 'base64' : 'base64url');
}

function firstNonSpace(bytes: Buffer): number | undefined {
  for (const byte of bytes) if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte;
  return undefined;
}

function readsAsJson(request: FastifyRequest, body: Buffer): boolean {
  return (request.mediaType ?? '').includes('json') || firstNonSpace(body) === 0x7b;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SegserveError('INVALID_JSON', { reason: (error as Error).message });
  }
}

const JSON_FORMS = '(send {"url": "<http(s) URL>"} or {"image": "<base64>"})';

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function invalidBody(reason: string): SegserveError {
  return new SegserveError('INVALID_ARGUMENT', { reason: `${reason} ${JSON_FORMS}` });
}

/**
 * Checked here by hand, not by Fastify's validator: that one coerces types (`{"image": 12}` became the base64
 * text "12", decoded to one byte and refused as an unsupported image format, 415), and a wrong type is a
 * mistake in the request that must be named as such.
 */
function imageJsonBody(value: unknown): { url: string } | { image: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidBody(`the JSON body must be an object, not ${kindOf(value)}`);
  }
  const { url, image } = value as Record<string, unknown>;
  if (url !== undefined && image !== undefined) throw invalidBody('give "url" or "image", not both');
  const [field, text] = url !== undefined ? ['url', url] : ['image', image];
  if (text === undefined) throw invalidBody('the JSON body has neither "url" nor "image"');
  if (typeof text !== 'string') {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `"${field}" must be a string (${IMAGE_JSON_SCHEMA.properties[field as 'url' | 'image'].description}), not ${kindOf(text)}`,
      field,
    });
  }
  if (text.length === 0) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `"${field}" is empty ${JSON_FORMS}`, field });
  }
  if (field === 'url' && text.length > IMAGE_JSON_SCHEMA.properties.url.maxLength) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: `"url" is longer than ${IMAGE_JSON_SCHEMA.properties.url.maxLength} characters`,
      field,
    });
  }
  return field === 'url' ? { url: text } : { image: text };
}

async function fromJson(body: Buffer, context: HttpContext): Promise<Buffer> {
  const found = imageJsonBody(parseJson(body));
  return 'url' in found ? context.fetcher.fetch(found.url) : decodeBase64(found.image);
}

async function fromMultipart(request: FastifyRequest): Promise<Buffer> {
  let found: Buffer | undefined;
  const seen: string[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      seen.push(part.fieldname);
      if (!found && (IMAGE_FIELDS as readonly string[]).includes(part.fieldname))
        found = await part.toBuffer();
      // Busboy delivers the next part only once this file's stream has been consumed.
      else part.file.resume();
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Limits reached (FST_*) are named by the error handler; the rest are malformed bodies.
    if (code?.startsWith('FST_')) throw error;
    throw new SegserveError('MULTIPART_INVALID', { reason: (error as Error).message }, { cause: error });
  }
  if (found) return found;
  throw new SegserveError('IMAGE_MISSING', {
    reason:
      seen.length > 0
        ? `no file in the fields ${IMAGE_FIELDS.join(' or ')} (files came as ${seen.join(', ')})`
        : `the multipart body has no file; send it in the field ${IMAGE_FIELDS.join(' or ')}`,
  });
}

/** The image bytes of an image route's request (empty when the body is: the pipeline then says IMAGE_EMPTY). */
export async function readImage(request: FastifyRequest, context: HttpContext): Promise<Buffer> {
  if (request.isMultipart()) return fromMultipart(request);
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  if (body.length === 0 || sniffImageFormat(body) !== null) return body;
  if (readsAsJson(request, body)) return fromJson(body, context);
  // Not an image and not JSON: the image layer names the problem (IMAGE_UNSUPPORTED_FORMAT).
  return body;
}
