/**
 * At most one log line per key per interval, with the number of lines held back since folded into the next:
 * for what can repeat once per request or per item when something is wrong (refused requests, a store that
 * refuses every write), where one line per occurrence would bury the log exactly when it matters.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, { started: number; suppressed: number }>();

  constructor(intervalMs = 1_000, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Whether a line for `key` may be written now: undefined when one was written less than an interval ago
   * (this one is only counted), else the number held back since that line.
   */
  admit(key: string): { suppressed: number } | undefined {
    const now = this.#now();
    const window = this.#windows.get(key);
    if (window && now - window.started < this.#intervalMs) {
      window.suppressed++;
      return undefined;
    }
    this.#windows.set(key, { started: now, suppressed: 0 });
    return { suppressed: window?.suppressed ?? 0 };
  }
}
