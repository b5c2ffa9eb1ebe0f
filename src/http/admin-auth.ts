/**
 * Admin keys: who may change what the server serves (uploads, aliases, promotion, load/unload, evaluation, the
 * /v2 repository extension). No key configured means the admin API is off: a fresh server exposes nothing that
 * changes it. Keys come from SEGSERVE_ADMIN_KEYS (comma-separated) and a key file (`--admin-key-file`, one per
 * line, `#` comments), where a line may hold the key itself or its hash as `sha256:<64 hex>` (what
 * `segserve admin hash-key` prints), so the file need not hold a usable secret, optionally after a name
 * (`alice sha256:...`). The name, or else `key:<first 8 hex of the hash>`, is who the model history says acted.
 *
 * Only SHA-256 digests are kept in memory. A presented key is hashed and compared with every stored digest with
 * `timingSafeEqual`, all of them every time, so neither the answer's timing nor an early exit says how much of a
 * key matched or which entry it was closest to. Hashing first also gives equal lengths, which timingSafeEqual needs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { SegserveError } from '../errors.js';
import { readKeyEntries } from './key-entries.js';

export const ADMIN_KEYS_ENV = 'SEGSERVE_ADMIN_KEYS';
export const ADMIN_KEY_FILE_ENV = 'SEGSERVE_ADMIN_KEY_FILE';

/** Shorter keys are refused at start: an admin key guards model uploads, so it must not be guessable. */
export const MIN_ADMIN_KEY_LENGTH = 16;

const HASHED = /^sha256:([0-9a-f]{64})$/i;

export function hashAdminKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

function digestOf(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export type AdminKeyCheck = { outcome: 'ok'; actor: string } | { outcome: 'missing' | 'invalid' };

interface StoredKey {
  digest: Buffer;
  actor: string;
}

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export class AdminKeys {
  readonly #keys: StoredKey[];

  private constructor(keys: StoredKey[]) {
    this.#keys = keys;
  }

  /**
   * Keys from plain text entries or `sha256:` hashes. Every bad entry is reported at once, by its position
   * (never by its text: it may be a real key with a typo).
   */
  static fromEntries(entries: ReadonlyArray<{ text: string; where: string }>): AdminKeys {
    const problems: string[] = [];
    const keys: StoredKey[] = [];
    for (const { text, where } of entries) {
      const fields = text.split(/\s+/);
      if (fields.length > 2 || (fields.length === 2 && !NAME.test(fields[0]))) {
        problems.push(`${where}: expected a key, or a name (letters, digits, . _ @ -) and a key`);
        continue;
      }
      const secret = fields[fields.length - 1];
      const name = fields.length === 2 ? fields[0] : undefined;
      const hashed = HASHED.exec(secret);
      if (!hashed && secret.length < MIN_ADMIN_KEY_LENGTH) {
        problems.push(`${where}: an admin key must have at least ${MIN_ADMIN_KEY_LENGTH} characters`);
        continue;
      }
      const digest = hashed ? Buffer.from(hashed[1].toLowerCase(), 'hex') : digestOf(secret);
      keys.push({ digest, actor: name ?? `key:${digest.toString('hex').slice(0, 8)}` });
    }
    if (problems.length > 0) {
      throw new SegserveError('INVALID_ARGUMENT', { reason: `invalid admin keys: ${problems.join('; ')}` });
    }
    return new AdminKeys(keys);
  }

  /**
   * The keys of the environment variable and the key file (flag first, then SEGSERVE_ADMIN_KEY_FILE), or
   * undefined when neither gives one: the admin API is then off.
   */
  static fromSettings(
    settings: { keyFile?: string },
    env: Readonly<Record<string, string | undefined>> = process.env,
  ): AdminKeys | undefined {
    const entries = readKeyEntries({
      what: 'admin key',
      listEnv: ADMIN_KEYS_ENV,
      fileEnv: ADMIN_KEY_FILE_ENV,
      keyFile: settings.keyFile,
      env,
    });
    return entries.length === 0 ? undefined : AdminKeys.fromEntries(entries);
  }

  get size(): number {
    return this.#keys.length;
  }

  check(presented: string | undefined): AdminKeyCheck {
    if (presented === undefined || presented === '') return { outcome: 'missing' };
    const digest = digestOf(presented);
    let matched: StoredKey | undefined;
    for (const stored of this.#keys) if (timingSafeEqual(stored.digest, digest)) matched ??= stored;
    return matched ? { outcome: 'ok', actor: matched.actor } : { outcome: 'invalid' };
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who called an admin route (the key's name, or its hash prefix); set by `requireAdmin`. */
    adminActor: string | null;
  }
}

/** Gives requests their `adminActor` slot; every plugin with admin routes calls it. */
export function decorateAdminActor(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('adminActor')) app.decorateRequest('adminActor', null);
}

/** The actor `requireAdmin` recorded; only call it in a route that the hook guards. */
export function adminActorOf(request: FastifyRequest): string {
  if (request.adminActor === null) throw new Error('adminActorOf on a route without requireAdmin');
  return request.adminActor;
}

/** The key of `Authorization: Bearer <key>`; anything else is no key. */
function bearerKey(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * An onRequest hook for admin routes: refuses before the body is read (an upload is never received from
 * someone without a key). ADMIN_API_DISABLED without keys, ADMIN_KEY_MISSING (401) without a bearer key,
 * ADMIN_KEY_INVALID (401) for a wrong one; both 401s say the scheme in WWW-Authenticate, as RFC 6750 asks.
 */
export function requireAdmin(keys: AdminKeys | undefined): onRequestHookHandler {
  return async (request, reply) => {
    if (!keys) throw new SegserveError('ADMIN_API_DISABLED');
    const checked = keys.check(bearerKey(request.headers.authorization));
    if (checked.outcome === 'ok') {
      request.adminActor = checked.actor;
      return;
    }
    reply.header('www-authenticate', 'Bearer realm="segserve-admin"');
    throw new SegserveError(checked.outcome === 'missing' ? 'ADMIN_KEY_MISSING' : 'ADMIN_KEY_INVALID');
  };
}
