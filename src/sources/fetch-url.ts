/**
 * Downloads an image a client named by URL, without letting the client reach what it should not (SSRF).
 *
 * Every hop (the first request and each redirect) is judged on the addresses it actually connects to: an IP
 * literal before connecting, a name inside our own DNS `lookup`, whose checked answer is the very address the
 * socket then connects to (no second resolution, so no DNS-rebinding gap). A name that resolves to any refused
 * address is refused as a whole. Only http and https, a capped number of redirects, a connect timeout, a total
 * deadline that also bounds slow bodies, and a size cap enforced while streaming (the declared length is only
 * an early refusal). No connection pooling: every request gets its own socket through the guarded lookup.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isSegserveError, SegserveError } from '../errors.js';
import { AddressPolicy, parseAddress } from './address-policy.js';

export interface UrlFetchOptions {
  /** Addresses or CIDR ranges that may be fetched from although they are loopback, private, etc. */
  allow: string[];
  /** Longest wait for DNS and the TCP (and TLS) connection of one hop. */
  connectTimeoutMs: number;
  /** Deadline for the whole download: every hop, every redirect, the body. */
  totalTimeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
}

const DEFAULT_URL_FETCH: UrlFetchOptions = {
  allow: [],
  connectTimeoutMs: 5_000,
  totalTimeoutMs: 15_000,
  maxBytes: 20 * 1024 * 1024,
  maxRedirects: 5,
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Thrown inside a hop when its connect timer fires; turned into URL_TIMEOUT. */
class ConnectTimeout extends Error {}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SegserveError('URL_INVALID', { reason: 'it is not an absolute URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SegserveError('URL_INVALID', {
      reason: `scheme "${url.protocol.replace(/:$/, '')}" is not fetched; use http or https`,
    });
  }
  return url;
}

/** The URL's host without IPv6 brackets, as sockets and the address policy want it. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

export class UrlFetcher {
  readonly #options: UrlFetchOptions;
  readonly #policy: AddressPolicy;
  readonly #lookup: LookupFunction;

  constructor(options: Partial<UrlFetchOptions> = {}) {
    this.#options = { ...DEFAULT_URL_FETCH, ...options };
    this.#policy = new AddressPolicy(this.#options.allow);
    this.#lookup = (hostname, lookupOptions, callback) => {
      dnsLookup(
        hostname,
        { family: lookupOptions.family, hints: lookupOptions.hints, all: true },
        (error, found) => {
          if (error) {
            callback(error, '');
            return;
          }
          const refused = this.#firstRefused(found);
          if (refused) {
            callback(refused, '');
            return;
          }
          if (lookupOptions.all) callback(null, found);
          else callback(null, found[0].address, found[0].family);
        },
      );
    };
  }

  /** The body of `url` after at most `maxRedirects` redirects, every hop checked. */
  async fetch(text: string): Promise<Buffer> {
    let url = parseUrl(text);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#options.totalTimeoutMs);
    const timedOut = () =>
      new SegserveError('URL_TIMEOUT', { host: url.host, timeout_ms: this.#options.totalTimeoutMs });
    try {
      for (let redirects = 0; ; redirects++) {
        const response = await this.#send(url, deadline.signal);
        const location = response.headers.location;
        if (REDIRECTS.has(response.statusCode ?? 0) && location) {
          response.destroy();
          if (redirects >= this.#options.maxRedirects) {
            throw new SegserveError('URL_FETCH_FAILED', {
              host: url.host,
              reason: `more than ${this.#options.maxRedirects} redirects`,
            });
          }
          url = parseUrl(new URL(location, url).href);
          continue;
        }
        if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode >= 300) {
          response.destroy();
          throw new SegserveError('URL_FETCH_FAILED', {
            host: url.host,
            reason: `the server answered HTTP ${response.statusCode}`,
          });
        }
        return await this.#readBody(response, url);
      }
    } catch (error) {
      if (deadline.signal.aborted || error instanceof ConnectTimeout) throw timedOut();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #firstRefused(found: LookupAddress[]): SegserveError | undefined {
    for (const { address } of found) {
      const range = this.#policy.refusal(address);
      if (range) return new SegserveError('URL_FORBIDDEN', { address, range });
    }
    return undefined;
  }

  /**
   * POSTs `body` to `url` under the same address policy and timeouts as `fetch`, following no redirect (a
   * webhook that moved answers 3xx, which the caller counts as a failed delivery). Resolves with the status.
   */
  async post(text: string, body: string, headers: Record<string, string>): Promise<number> {
    const url = parseUrl(text);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#options.totalTimeoutMs);
    try {
      const response = await this.#send(url, deadline.signal, { method: 'POST', headers, body });
      response.resume();
      return response.statusCode ?? 0;
    } catch (error) {
      if (deadline.signal.aborted || error instanceof ConnectTimeout) {
        throw new SegserveError('URL_TIMEOUT', { host: url.host, timeout_ms: this.#options.totalTimeoutMs });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One request; resolves with the response head. IP literals skip `lookup` in node:net, so they are judged here. */
  #send(
    url: URL,
    signal: AbortSignal,
    send: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string } = {
      method: 'GET',
      headers: { accept: 'image/*' },
    },
  ): Promise<IncomingMessage> {
    const host = bareHost(url);
    if (parseAddress(host)) {
      const refused = this.#firstRefused([{ address: host, family: host.includes(':') ? 6 : 4 }]);
      if (refused) return Promise.reject(refused);
    }
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = client.request(
        {
          protocol: url.protocol,
          hostname: host,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: send.method,
          headers: { 'user-agent': 'segserve', ...send.headers },
          agent: false,
          lookup: this.#lookup,
          signal,
        },
        resolve,
      );
      const connectTimer = setTimeout(
        () => request.destroy(new ConnectTimeout()),
        this.#options.connectTimeoutMs,
      );
      request.on('socket', (socket) => socket.once('connect', () => clearTimeout(connectTimer)));
      request.on('response', () => clearTimeout(connectTimer));
      request.on('error', (error) => {
        clearTimeout(connectTimer);
        reject(
          isSegserveError(error) || error instanceof ConnectTimeout || signal.aborted
            ? error
            : new SegserveError('URL_FETCH_FAILED', { host: url.host, reason: describe(error) }),
        );
      });
      request.end(send.body);
    });
  }

  async #readBody(response: IncomingMessage, url: URL): Promise<Buffer> {
    const { maxBytes } = this.#options;
    const tooLarge = () =>
      new SegserveError('INPUT_TOO_LARGE', { source: `image at ${url.host}`, limit: maxBytes });
    if (Number(response.headers['content-length']) > maxBytes) {
      response.destroy();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          response.destroy();
          throw tooLarge();
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (isSegserveError(error)) throw error;
      throw new SegserveError('URL_FETCH_FAILED', { host: url.host, reason: describe(error) });
    }
    return Buffer.concat(chunks, size);
  }
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
