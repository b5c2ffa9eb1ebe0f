/**
 * Knows whether the running code is inside one of a database's open transactions, so a query sent to the
 * database itself from there fails at once. On the embedded engine, which runs one statement at a time, it
 * would wait for the transaction to end while the transaction waits for it; on a server it would run outside
 * the transaction, which is never what the code meant. Both adapters refuse it, so a mistake shows on both.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Queryable } from './database.js';

export class TransactionScope {
  private readonly current = new AsyncLocalStorage<{ open: boolean }>();

  /** Throws when called from inside an open transaction of this scope. */
  assertOutside(what: string): void {
    if (this.current.getStore()?.open) {
      throw new Error(
        `${what} on the database inside one of its transactions: use the transaction's own query`,
      );
    }
  }

  /** Runs `fn` as the body of a transaction; the mark ends with it, even for callbacks it left scheduled. */
  async run<R>(fn: () => Promise<R>): Promise<R> {
    const state = { open: true };
    try {
      return await this.current.run(state, fn);
    } finally {
      state.open = false;
    }
  }
}

/**
 * The `tx` a transaction body gets: it refuses to run anything once the transaction has ended (a query left
 * running after the body returned would otherwise land outside the transaction, or on a pooled connection
 * that another caller now holds). The same on both engines.
 */
export function transactionHandle(inner: Queryable): { tx: Queryable; end(): void } {
  let ended = false;
  const check = (what: string) => {
    if (ended) throw new Error(`${what} on a transaction that has already ended`);
  };
  return {
    tx: {
      query: (sql, params) => {
        check('query');
        return inner.query(sql, params);
      },
      exec: (script) => {
        check('exec');
        return inner.exec(script);
      },
    },
    end: () => {
      ended = true;
    },
  };
}
