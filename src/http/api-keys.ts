/**
 * API keys and rate limits for the inference routes (segment, the compatible routes, /v2 infer): optional, off
 * unless keys are configured. Keys come from SEGSERVE_API_KEYS (comma-separated) and `--api-key-file` /
 * SEGSERVE_API_KEY_FILE, one per line:
 *
 *     <name> <key or sha256:<64 hex>> [rate=<n>/<s|m|h>] [burst=<n>] [revoked]
 *
 * Only SHA-256 digests are kept, looked up by digest: a presented key is hashed first, so the lookup's timing
 * depends on the digest, never on how much of a real key was guessed. A key is sent as `Authorization: Bearer
 * <key>` or `X-API-Key: <key>`. Without a key: 401 API_KEY_MISSING; an unknown one: 401 API_KEY_INVALID; a
 * revoked one (kept in the file with `revoked`, so its holder is told, not left guessing): 403 API_KEY_REVOKED;
 * over its rate: 429 RATE_LIMITED with Retry-After. Admin keys (admin-auth.ts) are separate and open no
 * inference route, nor do API keys open admin routes.
 *
 * Rates are token buckets per key (`rate` tokens a period, at most `burst` at once), held by each replica: N
 * replicas behind a load balancer admit up to N times a key's rate. A key without `rate=` has no limit.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SegserveError } from '../errors.js';
import { readKeyEntries } from './key-entries.js';

export const API_KEYS_ENV = 'SEGSERVE_API_KEYS';
export const API_KEY_FILE_ENV = 'SEGSERVE_API_KEY_FILE';
const MIN_KEY_LENGTH = 16;
const HASHED = /^sha256:([0-9a-f]{64})$/i;
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const RATE = /^rate=([1-9][0-9]{0,8})\/(s|m|h)$/;
const BURST = /^burst=([1-9][0-9]{0,8})$/;
const PERIOD_SECONDS = { s: 1, m: 60, h: 3600 } as const;

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Most tokens held at once: the requests a key may send in one burst. */
  burst: number;
  /** As written: `10/s`. */
  text: string;
}

interface ApiKey {
  name: string;
  revoked: boolean;
  rate?: RateLimit;
  /** Token bucket: tokens left and when they were counted (ms). */
  tokens: number;
  countedAt: number;
}

function digestOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Parses one entry; a problem is reported by where it is, never by its text (it may hold a real key). */
function parseEntry(
  text: string,
  where: string,
  problems: string[],
): { digest: string; key: ApiKey } | undefined {
  const [first, second, ...options] = text.split(/\s+/);
  const named = second !== undefined && !RATE.test(second) && !BURST.test(second) && second !== 'revoked';
  const name = named ? first : undefined;
  const secret = named ? second : first;
  const rest = named ? options : [second, ...options].filter((o) => o !== undefined);
  if (name !== undefined && !NAME.test(name)) {
    problems.push(`${where}: a key's name is letters, digits, . _ @ -`);
    return undefined;
  }
  const hashed = HASHED.exec(secret);
  if (!hashed && secret.length < MIN_KEY_LENGTH) {
    problems.push(`${where}: an API key must have at least ${MIN_KEY_LENGTH} characters`);
    return undefined;
  }
  const digest = hashed ? hashed[1].toLowerCase() : digestOf(secret);
  let revoked = false;
  let perSecond: number | undefined;
  let rateText = '';
  let burst: number | undefined;
  for (const option of rest) {
    const rate = RATE.exec(option);
    const burstMatch = BURST.exec(option);
    if (option === 'revoked') revoked = true;
    else if (rate) {
      perSecond = Number(rate[1]) / PERIOD_SECONDS[rate[2] as keyof typeof PERIOD_SECONDS];
      rateText = `${rate[1]}/${rate[2]}`;
    } else if (burstMatch) burst = Number(burstMatch[1]);
    else {
      problems.push(`${where}: unknown option (expected rate=<n>/<s|m|h>, burst=<n> or revoked)`);
      return undefined;
    }
  }
  if (burst !== undefined && perSecond === undefined) {
    problems.push(`${where}: burst= needs a rate=`);
    return undefined;
  }
  // Without burst=, a key may send one second's worth at once (at least one request).
  const rate =
    perSecond === undefined
      ? undefined
      : { perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond)), text: rateText };
  return {
    digest,
    key: {
      name: name ?? `key:${digest.slice(0, 8)}`,
      revoked,
      rate,
      tokens: rate?.burst ?? 0,
      countedAt: 0,
    },
  };
}

export type KeyCheck =
  | { outcome: 'ok'; name: string }
  | { outcome: 'missing' | 'invalid' }
  | { outcome: 'revoked'; name: string }
  | { outcome: 'limited'; name: string; retryAfterSeconds: number; rate: string };

export class ApiKeys {
  readonly #byDigest: Map<string, ApiKey>;
  readonly #now: () => number;

  private constructor(keys: Map<string, ApiKey>, now: () => number) {
    this.#byDigest = keys;
    this.#now = now;
  }

  static fromEntries(
    entries: ReadonlyArray<{ text: string; where: string }>,
    now: () => number = () => performance.now(),
  ): ApiKeys {
    const problems: string[] = [];
    const keys = new Map<string, ApiKey>();
    for (const { text, where } of entries) {
      const parsed = parseEntry(text, where, problems);
      if (!parsed) continue;
      if (keys.has(parsed.digest)) problems.push(`${where}: the same key is listed twice`);
      keys.set(parsed.digest, parsed.key);
    }
    if (problems.length > 0) {
      throw new SegserveError('INVALID_ARGUMENT', { reason: `invalid API keys: ${problems.join('; ')}` });
    }
    return new ApiKeys(keys, now);
  }

  /** The keys of SEGSERVE_API_KEYS and the key file (flag, else SEGSERVE_API_KEY_FILE); undefined: keys are off. */
  static fromSettings(
    settings: { keyFile?: string },
    env: Readonly<Record<string, string | undefined>> = process.env,
  ): ApiKeys | undefined {
    const entries = readKeyEntries({
      what: 'API key',
      listEnv: API_KEYS_ENV,
      fileEnv: API_KEY_FILE_ENV,
      keyFile: settings.keyFile,
      env,
    });
    return entries.length === 0 ? undefined : ApiKeys.fromEntries(entries);
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** Checks a presented key and, when it has a rate, takes one token from its bucket. */
  check(presented: string | undefined): KeyCheck {
    if (presented === undefined || presented === '') return { outcome: 'missing' };
    const key = this.#byDigest.get(digestOf(presented));
    if (!key) return { outcome: 'invalid' };
    if (key.revoked) return { outcome: 'revoked', name: key.name };
    const { rate } = key;
    if (!rate) return { outcome: 'ok', name: key.name };
    const now = this.#now();
    key.tokens = Math.min(rate.burst, key.tokens + ((now - key.countedAt) / 1000) * rate.perSecond);
    key.countedAt = now;
    if (key.tokens >= 1) {
      key.tokens -= 1;
      return { outcome: 'ok', name: key.name };
    }
    return {
      outcome: 'limited',
      name: key.name,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - key.tokens) / rate.perSecond)),
      rate: rate.text,
    };
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An inference route: with API keys configured, it needs one (api-keys.ts). */
    inference?: boolean;
  }
  interface FastifyRequest {
    /** The name of the API key an inference request came with; null without keys or on other routes. */
    apiKeyName: string | null;
  }
}

function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') return header.trim();
  const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return bearer?.[1];
}

/**
 * Guards every route marked `config: { inference: true }` with the keys. An app-level onRequest hook runs before
 * the routes' own, so a request without a valid key is refused before admission and before its body is read.
 */
export function installApiKeys(app: FastifyInstance, keys: ApiKeys | undefined): void {
  app.decorateRequest('apiKeyName', null);
  if (!keys) return;
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.config?.inference) return;
    const checked = keys.check(presentedKey(request));
    switch (checked.outcome) {
      case 'ok':
        request.apiKeyName = checked.name;
        return;
      case 'missing':
      case 'invalid':
        reply.header('www-authenticate', 'Bearer realm="segserve"');
        throw new SegserveError(checked.outcome === 'missing' ? 'API_KEY_MISSING' : 'API_KEY_INVALID');
      case 'revoked':
        throw new SegserveError('API_KEY_REVOKED', { name: checked.name });
      case 'limited':
        throw new SegserveError('RATE_LIMITED', {
          name: checked.name,
          rate: checked.rate,
          retry_after: checked.retryAfterSeconds,
        });
    }
  });
}
