/**
 * Request bodies compressed with `Content-Encoding: gzip` or `deflate`, as the Triton clients send them when
 * asked to (`request_compression_algorithm`). The Inference-Header-Content-Length then counts the JSON in the
 * decompressed body. Decompression runs on libuv's thread pool and stops at the body limit, so a small
 * compressed body cannot expand into an unbounded one.
 */
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { SegserveError } from '../../errors.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export async function decodeContent(
  body: Buffer,
  encoding: string | undefined,
  limit: number,
): Promise<Buffer> {
  const name = encoding?.trim().toLowerCase() ?? 'identity';
  if (name === 'identity' || body.length === 0) return body;
  // HTTP's "deflate" is the zlib format (RFC 9110), which is what Python's zlib.compress writes.
  const decode =
    name === 'gzip' || name === 'x-gzip' ? gunzipAsync : name === 'deflate' ? inflateAsync : undefined;
  if (!decode) throw new SegserveError('CONTENT_ENCODING_UNSUPPORTED', { encoding: name });
  try {
    return await decode(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SegserveError('BODY_TOO_LARGE', { limit });
    }
    throw new SegserveError('V2_BAD_REQUEST', {
      reason: `the ${name} body cannot be decompressed: ${(error as Error).message}`,
    });
  }
}
