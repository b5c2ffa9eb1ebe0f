/** Number formats shared by the pages, so the same quantity reads the same everywhere. */

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export function pixels(value: number): string {
  return `${integer.format(value)} px`;
}

export function milliseconds(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

/** `share` in 0..1 as a percentage; small shares keep a decimal so they do not read as 0%. */
export function percent(share: number): string {
  const value = share * 100;
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)}%`;
}

export function score(value: number): string {
  return value.toFixed(3);
}

export function box([x, y, w, h]: readonly number[]): string {
  return `x ${x}, y ${y}, ${w} × ${h}`;
}

/** A time span in seconds: `42 s`, `3m 05s`, `2h 10m`. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}
