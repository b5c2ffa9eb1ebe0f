/**
 * multipart/form-data request bodies for the commands that upload to a running server (`models push`,
 * `jobs submit`): files are streamed from disk rather than read whole, so a large model or a thousand photos
 * never sit in memory, and the length is known up front (the server refuses an oversized body before reading it).
 */
import { createReadStream } from 'node:fs';

export type FormPart =
  | { name: string; value: string | Uint8Array; filename?: string }
  /** A file on disk, read as the body is sent; `size` is its length now (from stat). */
  | { name: string; path: string; size: number; filename: string; contentType: string };

/** Called after each chunk of a file part: the part's index, the bytes of it sent so far and its size. */
export type SendProgress = (part: number, sent: number, size: number) => void;

export interface MultipartBody {
  contentType: string;
  length: number;
  /** The body, reading the files as it is consumed. */
  stream(onProgress?: SendProgress): ReadableStream<Uint8Array>;
}

/** Quotes and line breaks would end the header value: they become `_`. */
const quoted = (text: string) => `"${text.replace(/["\r\n]/g, '_')}"`;

export function multipartBody(parts: readonly FormPart[]): MultipartBody {
  const boundary = `segserve-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const heads = parts.map((part) => {
    const filename = part.filename === undefined ? '' : `; filename=${quoted(part.filename)}`;
    const type = 'path' in part ? `Content-Type: ${part.contentType}\r\n` : '';
    return Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.name)}${filename}\r\n${type}\r\n`,
    );
  });
  const crlf = Buffer.from('\r\n');
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const sizes = parts.map((part) => ('path' in part ? part.size : Buffer.byteLength(part.value)));
  const length = heads.reduce((n, head, i) => n + head.length + sizes[i] + crlf.length, 0) + tail.length;

  async function* chunks(onProgress?: SendProgress): AsyncGenerator<Uint8Array> {
    for (const [index, part] of parts.entries()) {
      yield heads[index];
      if ('path' in part) {
        let sent = 0;
        for await (const chunk of createReadStream(part.path)) {
          sent += (chunk as Buffer).length;
          onProgress?.(index, sent, part.size);
          yield chunk as Buffer;
        }
        // An empty file has no chunk to report: it is sent all the same.
        if (sent === 0) onProgress?.(index, 0, 0);
      } else {
        yield Buffer.from(part.value);
      }
      yield crlf;
    }
    yield tail;
  }

  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    stream: (onProgress) => ReadableStream.from(chunks(onProgress)),
  };
}
