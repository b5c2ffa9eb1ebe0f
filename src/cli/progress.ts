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

export function createProgress(
  total: number,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): LiveProgress {
  let done = 0;
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
    bar.start(total, 0, { detail: '', rate: '0.0' });
    const update = (value: number, detail = '') => {
      done = value;
      const rate = done / Math.max((Date.now() - started) / 1000, 1e-3);
      bar.update(done, { detail, rate: rate.toFixed(1) });
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
