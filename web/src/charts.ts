/**
 * Time-series charts of the monitor page, drawn by uPlot (canvas, about 50 kB, loaded only when the page is
 * opened). A chart follows its container's width (ResizeObserver), takes new data in place, stacks layers when
 * asked (uPlot has no stacking of its own: the layers are summed here and filled between), and draws a bucket
 * that has no neighbours as a dot, since a line needs two points and a lone 5 s bucket would otherwise vanish.
 * uPlot sets sizes and colours through element.style (CSSOM), which the UI's CSP (style-src 'self') allows;
 * its stylesheet is bundled with ours (styles.css imports it).
 */
import type uPlot from 'uplot';
import { h } from './dom';

type UPlot = typeof uPlot;
export type Values = Array<number | null>;

let library: Promise<UPlot> | undefined;

/** uPlot, loaded once on first use. */
export function loadCharts(): Promise<UPlot> {
  library ??= import('uplot').then((module) => module.default);
  return library;
}

export interface SeriesSpec {
  label: string;
  color: string;
  /**
   * line (the default); bars: one bar per bucket, stacked on the previous bars series (bars come first in
   * `series`); range: a floating bar per bucket from the values of series `lowerFrom` up to this series' values.
   */
  kind?: 'line' | 'bars' | 'range';
  /** For a range: the index (into `series`) of the series its bars start from. */
  lowerFrom?: number;
  /** Fill under a line. */
  fill?: boolean;
  /** A limit (threshold, capacity): a plain line, never dots. */
  limit?: boolean;
  dash?: number[];
  width?: number;
}

export interface ChartSpec {
  title: string;
  /** The y axis label, with its unit. */
  axis: string;
  testId: string;
  series: SeriesSpec[];
  /** Fixed y range; by default 0 to a little over the largest value. */
  range?: [number, number];
  /** The most the default range grows to (entropy never exceeds 1). */
  rangeCap?: number;
  /** Values on the y axis and in the legend. */
  format: (value: number) => string;
}

/** `#rrggbb` with an alpha, for fills under lines. */
function alpha(color: string, opacity: number): string {
  const a = Math.round(opacity * 255)
    .toString(16)
    .padStart(2, '0');
  return `${color}${a}`;
}

/** Whether the page is drawn in its dark scheme now (charts take their axis colours from it when built). */
export const darkScheme = matchMedia('(prefers-color-scheme: dark)');

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Running sums of the first `layers` series (the rest as they are); a bucket where every layer is null stays a gap. */
function stack(values: Values[], layers: number): Values[] {
  const length = values[0]?.length ?? 0;
  const sums: Values[] = values.map((v, l) => (l < layers ? new Array(length).fill(null) : v));
  for (let i = 0; i < length; i++) {
    let present = false;
    for (let l = 0; l < layers; l++) present ||= values[l][i] !== null;
    if (!present) continue;
    let sum = 0;
    for (let l = 0; l < layers; l++) {
      sum += values[l][i] ?? 0;
      sums[l][i] = sum;
    }
  }
  return sums;
}

/** Indices of values with no value on either side: drawn as dots, the only way a lone bucket shows. */
function isolated(values: ArrayLike<number | null | undefined>): number[] | null {
  const found: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const here = values[i];
    if (here === null || here === undefined) continue;
    const before = i > 0 ? values[i - 1] : null;
    const after = i + 1 < values.length ? values[i + 1] : null;
    if ((before === null || before === undefined) && (after === null || after === undefined)) found.push(i);
  }
  return found.length > 0 ? found : null;
}

const PHONE_WIDTH = 520;

export class Chart {
  readonly element: HTMLElement;
  readonly spec: ChartSpec;
  readonly #plotArea: HTMLElement;
  readonly #lib: UPlot;
  readonly #observer: ResizeObserver;
  #plot: uPlot | null = null;
  #data: uPlot.AlignedData | null = null;
  /** The unstacked values, for the legend. */
  #raw: Values[] = [];
  /** How many leading series are stacked layers. */
  readonly #layers: number;

  constructor(lib: UPlot, spec: ChartSpec) {
    this.#lib = lib;
    this.spec = spec;
    this.#layers = spec.series.filter((s) => s.kind === 'bars').length;
    this.#plotArea = h('div', { class: 'chart-plot' });
    this.element = h(
      'figure',
      { class: 'chart', 'data-chart': spec.testId },
      h('figcaption', { class: 'chart-title' }, spec.title),
      this.#plotArea,
    );
    this.#observer = new ResizeObserver(() => this.#resize());
    this.#observer.observe(this.#plotArea);
  }

  /** New data: `times` in epoch seconds, one array per series, aligned with them. */
  update(times: number[], values: Values[]): void {
    this.#raw = values;
    const drawn = this.#layers > 0 ? stack(values, this.#layers) : values;
    this.#data = [times, ...drawn] as uPlot.AlignedData;
    if (this.#plot) this.#plot.setData(this.#data);
    else this.#resize();
  }

  destroy(): void {
    this.#observer.disconnect();
    this.#plot?.destroy();
    this.#plot = null;
  }

  #size(): { width: number; height: number } {
    const width = Math.floor(this.#plotArea.clientWidth);
    return { width, height: width < PHONE_WIDTH ? 170 : 200 };
  }

  #resize(): void {
    const size = this.#size();
    if (size.width <= 0 || !this.#data) return;
    if (!this.#plot) {
      this.#plot = new this.#lib(this.#options(size), this.#data, this.#plotArea);
      // The canvas is what the browser tests read back: name it for them.
      this.#plot.ctx.canvas.setAttribute('data-testid', this.spec.testId);
      return;
    }
    if (size.width !== this.#plot.width || size.height !== this.#plot.height) this.#plot.setSize(size);
  }

  #options(size: { width: number; height: number }): uPlot.Options {
    const { spec } = this;
    const text = cssVar('--muted', '#5a6576');
    const grid = cssVar('--border', '#d7dde5');
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const format = spec.format;
    const bars = this.#lib.paths.bars?.({ size: [0.8, 16, 2], align: 0 });
    const series: uPlot.Series[] = [
      { label: 'Time' },
      ...spec.series.map((s, i): uPlot.Series => {
        // The legend shows each series' own value (not its stacked height): under the cursor, else the latest.
        const value = (_self: uPlot, _value: number | null, _si: number, idx: number | null) => {
          const raw = this.#raw[i] ?? [];
          let at = idx ?? raw.length - 1;
          if (idx === null) while (at > 0 && raw[at] === null) at--;
          const shown = raw[at];
          return shown === null || shown === undefined ? '–' : format(shown);
        };
        if (s.kind === 'bars') {
          return {
            label: s.label,
            stroke: s.color,
            fill: s.color,
            width: 0,
            paths: bars,
            points: { show: false },
            value,
          };
        }
        if (s.kind === 'range') {
          const lower = () => this.#raw[s.lowerFrom ?? i] ?? [];
          return {
            label: s.label,
            stroke: s.color,
            fill: alpha(s.color, 0.45),
            width: 0,
            paths: this.#lib.paths.bars?.({
              size: [0.8, 16, 2],
              align: 0,
              disp: { y0: { unit: 1, values: lower }, y1: { unit: 1, values: () => this.#raw[i] ?? [] } },
            }),
            points: { show: false },
            value,
          };
        }
        return {
          label: s.label,
          stroke: s.color,
          width: s.width ?? 2,
          dash: s.dash,
          fill: s.fill ? alpha(s.color, 0.18) : undefined,
          points: s.limit
            ? { show: false }
            : {
                size: 6,
                fill: s.color,
                filter: (self, si, show) => (show ? null : isolated(self.data[si])),
              },
          value,
        };
      }),
    ];
    // Stacked bars: each layer above the first is drawn from the running sum below it (uPlot's bands).
    const bands: uPlot.Band[] = [];
    for (let i = 2; i <= this.#layers; i++) bands.push({ series: [i, i - 1] });
    const range = spec.range;
    return {
      ...size,
      series,
      bands,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // Half a bucket of room on each side, so the first and the last bars show whole.
        x: {
          time: true,
          range: (self, min, max) => {
            const times = self.data[0];
            const half = times.length > 1 ? (times[1] - times[0]) / 2 : 2.5;
            return [min - half, max + half];
          },
        },
        y: {
          range: range
            ? () => range
            : (_self, _min, max) =>
                [
                  0,
                  max > 0 ? Math.min(max * 1.15, spec.rangeCap ?? Number.POSITIVE_INFINITY) : 1,
                ] as uPlot.Range.MinMax,
        },
      },
      axes: [
        { ...axis },
        {
          ...axis,
          label: spec.axis,
          labelSize: 18,
          size: 52,
          values: (_self, splits) => splits.map((v) => format(v)),
        },
      ],
    };
  }
}
