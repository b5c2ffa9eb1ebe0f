/**
 * Progress for long CLI work: a live bar on a terminal; on a pipe or in CI (no TTY) a plain line every tenth
 * of the way, so logs show progress without carriage-return noise.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  tick(detail?: string): void;
  stop(): void;
}

export interface LiveProgress extends Progress {
  /** Moves to `value` of the total at once: progress counted elsewhere (a job's, on the server). */
  update(value: number, detail?: string): void;
}

/** `initial`: where work counted elsewhere already stands (a job half done): the rate counts only what follows. */
export function createProgress(
  total: number,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  initial = 0,
): LiveProgress {
  let done = initial;
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate} img/s | ETA {eta_formatted} | {detail}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    bar.start(total, initial, { detail: '', rate: '0.0' });
    const update = (value: number, detail = '') => {
      const moved = value !== done;
      done = value;
      const rate = (done - initial) / Math.max((Date.now() - started) / 1000, 1e-3);
      const payload = { detail, rate: rate.toFixed(1) };
      // The ETA is estimated from the values given: a poll that found no progress would read as "never".
      if (moved) bar.update(done, payload);
      else bar.update(payload);
    };
    return {
      tick: (detail) => update(done + 1, detail),
      update,
      stop: () => bar.stop(),
    };
  }
  let lastDecile = 0;
  const update = (value: number, detail = '') => {
    done = value;
    // Every tenth of the way, once: a poll that finds the same value again prints nothing.
    const decile = Math.floor((done / total) * 10);
    if (decile > lastDecile) {
      lastDecile = decile;
      stream.write(`${label}: ${done}/${total} (${Math.round((done / total) * 100)}%) ${detail}\n`);
    }
  };
  return {
    tick: (detail) => update(done + 1, detail),
    update,
    stop() {},
  };
}
