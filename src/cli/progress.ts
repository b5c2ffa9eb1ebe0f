/**
 * Progress for long CLI work: a live bar on a terminal; on a pipe or in CI (no TTY) a plain line every tenth
 * of the way, so logs show progress without carriage-return noise.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  tick(detail?: string): void;
  stop(): void;
}

export function createProgress(
  total: number,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
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
    return {
      tick(detail = '') {
        const rate = (bar.getProgress() * total + 1) / Math.max((Date.now() - started) / 1000, 1e-3);
        bar.increment(1, { detail, rate: rate.toFixed(1) });
      },
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let lastDecile = 0;
  return {
    tick(detail = '') {
      done++;
      const decile = Math.floor((done / total) * 10);
      if (decile > lastDecile || done === total) {
        lastDecile = decile;
        stream.write(`${label}: ${done}/${total} (${Math.round((done / total) * 100)}%) ${detail}\n`);
      }
    },
    stop() {},
  };
}
