/**
 * The commands that talk to a running server over HTTP (`models push`, `jobs ...`): the `--server` option, the
 * server's error answers turned back into the catalogue errors they name (so the CLI prints them as its own),
 * and a server that gives no answer reported as such instead of as an unforeseen "fetch failed".
 */
import { Option } from 'commander';
import { ERROR_CATALOGUE, type ErrorCode, type ErrorDetails, SegserveError } from '../errors.js';
import type { MultipartBody, SendProgress } from './multipart.js';

/**
 * An API key of the server (inference and jobs routes): from the environment, never a flag (flags end up in
 * shell history and `ps`).
 */
const API_KEY_ENV = 'SEGSERVE_API_KEY';

export function serverOption(): Option {
  return new Option('--server <url>', 'the server').env('SEGSERVE_SERVER').default('http://127.0.0.1:8080');
}

/** An answer that is not the server's error format (a proxy's page), with its status. */
export class UnexpectedAnswer extends Error {
  readonly status: number;

  constructor(status: number, body: string) {
    super(`the server answered ${status}: ${body.slice(0, 300)}`);
    this.name = 'UnexpectedAnswer';
    this.status = status;
  }
}

/** No answer at all (refused, reset, timed out); an answer, even an error, is never this. */
export class NoAnswer extends SegserveError {
  constructor(server: string, cause: unknown) {
    const why =
      cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : cause;
    super(
      'INVALID_ARGUMENT',
      {
        reason: `no answer from the server at ${server} (${String(why)}); is it running? --server or SEGSERVE_SERVER names it`,
      },
      { cause },
    );
  }
}

/** The server's error answer as the error it names. */
function answeredError(status: number, body: string): Error {
  try {
    const { error } = JSON.parse(body) as {
      error?: { code?: string; message?: string; details?: ErrorDetails };
    };
    if (error?.code && Object.hasOwn(ERROR_CATALOGUE, error.code)) {
      return new SegserveError(error.code as ErrorCode, error.details ?? {});
    }
  } catch {
    // Not our error format: reported with the status.
  }
  return new UnexpectedAnswer(status, body);
}

/**
 * Whether asking again later may succeed: no answer, or an answer saying the server (or something before it)
 * is busy or failing right now (429, 5xx); a 4xx is the request's fault and stays so.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof NoAnswer) return true;
  const status =
    error instanceof SegserveError || error instanceof UnexpectedAnswer ? error.status : undefined;
  return status !== undefined && (status === 429 || status >= 500);
}

export interface SendOptions {
  method?: 'GET' | 'POST' | 'PUT';
  /** Sent as JSON. */
  json?: unknown;
  /** A multipart upload, streamed; no timeout, since how long it takes depends on the files. */
  form?: MultipartBody;
  onProgress?: SendProgress;
  headers?: Record<string, string>;
}

/** A short request with no answer in this long has lost its server: polling treats it as no answer. */
const ANSWER_TIMEOUT_MS = 30_000;

export class ServerClient {
  readonly server: string;
  readonly #key: string | undefined;

  constructor(server: string, key = process.env[API_KEY_ENV]) {
    this.server = server.replace(/\/+$/, '');
    this.#key = key === '' ? undefined : key;
  }

  /** The answer's status and parsed JSON body; an error status becomes the error it names. */
  async send<T>(path: string, options: SendOptions = {}): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.#key !== undefined) headers.authorization = `Bearer ${this.#key}`;
    let body: RequestInit['body'];
    if (options.form) {
      headers['content-type'] = options.form.contentType;
      headers['content-length'] = String(options.form.length);
      body = options.form.stream(options.onProgress);
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${this.server}${path}`, {
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        body,
        ...(options.form ? { duplex: 'half' } : { signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) }),
      } as RequestInit);
      status = response.status;
      text = await response.text();
    } catch (error) {
      // An upload's file that could not be read is the user's file to fix, not a server gone.
      const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
      if (cause?.path !== undefined) throw cause;
      throw new NoAnswer(this.server, error);
    }
    if (status < 200 || status > 299) throw this.#refusal(status, text);
    try {
      return { status, body: JSON.parse(text) as T };
    } catch {
      // A 2xx that is not JSON came from something else at that address.
      throw new UnexpectedAnswer(status, text);
    }
  }

  /** A missing key is the user's to set: said with the variable's name rather than the HTTP header's. */
  #refusal(status: number, text: string): Error {
    const error = answeredError(status, text);
    if (error instanceof SegserveError && error.code === 'API_KEY_MISSING' && this.#key === undefined) {
      return new SegserveError('INVALID_ARGUMENT', {
        reason: `the server at ${this.server} needs an API key (API_KEY_MISSING): put one in ${API_KEY_ENV}`,
      });
    }
    return error;
  }
}
