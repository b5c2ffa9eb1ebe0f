/**
 * Learning curves of a training run, drawn as SVG like the version history's chart: the loss on one chart and the
 * validation metrics on another, since their scales differ by orders of magnitude. An epoch holds whatever the
 * trainer reported, so every field is optional: what is a finite number is drawn, anything else is left out.
 */
import type { TrainingRunJson } from '../../src/learning/training/wire-types.js';
import { h, svg, swatch } from './dom';
import { CURVE_COLORS, CURVE_OTHER_COLORS } from './monitor-colors';

type Epoch = TrainingRunJson['epochs'][number];

export interface Curve {
  /** The field as the trainer names it (`loss`, `mean_iou`, `dice membrane`): the key of its colour. */
  name: string;
  color: string;
  /** [epoch, value], in epoch order. */
  points: Array<[number, number]>;
}

/** The metrics every trainer reports come first, in this order; the rest follow by name. */
const FIRST = ['loss', 'val loss', 'pixel_accuracy', 'accuracy', 'mean_iou'];

function metricOrder(a: string, b: string): number {
  const rank = (name: string) => (FIRST.includes(name) ? FIRST.indexOf(name) : FIRST.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

function fieldsOf(value: unknown, prefix: string, depth: number): Array<[string, number]> {
  if (typeof value === 'number') return Number.isFinite(value) && prefix ? [[prefix, value]] : [];
  if (typeof value !== 'object' || value === null || depth > 1) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    fieldsOf(inner, prefix ? `${prefix} ${key}` : key, depth + 1),
  );
}

/**
 * Finite numbers of a metrics object, nested objects one level down (`dice: {membrane: 0.8}` → `dice membrane`),
 * in a fixed order: the database keeps JSON objects with their keys reordered (PostgreSQL's jsonb).
 */
export function numericFields(value: unknown): Array<[string, number]> {
  return fieldsOf(value, '', 0).sort(([a], [b]) => metricOrder(a, b));
}

const WORDS: Record<string, string> = {
  pixel_accuracy: 'pixel accuracy',
  mean_iou: 'mean IoU',
  iou: 'IoU',
  dice: 'Dice',
};

/** How a metric's name reads: `mean_iou` → `mean IoU`, `dice membrane` → `Dice membrane`. */
export function metricLabel(name: string): string {
  return name
    .split(' ')
    .map((word) => WORDS[word] ?? word.replaceAll('_', ' '))
    .join(' ');
}

const isLoss = (name: string) => /loss/i.test(name);

/**
 * The series of one epoch: its loss fields (`loss`, and `val loss` when validation reports one) and its other
 * validation metrics. Other top-level numbers (epoch, iteration, learning rate, timings) are bookkeeping, not
 * curves.
 */
function seriesOf(epoch: Epoch): { loss: Array<[string, number]>; metrics: Array<[string, number]> } {
  const top = Object.entries(epoch).filter(
    (entry): entry is [string, number] =>
      isLoss(entry[0]) && typeof entry[1] === 'number' && Number.isFinite(entry[1]),
  );
  const val = numericFields(epoch.val);
  const valLoss = val
    .filter(([name]) => isLoss(name))
    .map(([name, v]): [string, number] => [`val ${name}`, v]);
  return {
    loss: [...top, ...valLoss].sort(([a], [b]) => metricOrder(a, b)),
    metrics: val.filter(([name]) => !isLoss(name)),
  };
}

/** The epoch number an entry reports, else its position (1-based). */
const epochOf = (epoch: Epoch, index: number) =>
  typeof epoch.epoch === 'number' && Number.isFinite(epoch.epoch) ? epoch.epoch : index + 1;

/**
 * Colours by metric name, fixed for the names of CURVE_COLORS and handed out in order of appearance for the rest,
 * over every run of a model, so one metric keeps its colour whichever run is shown.
 */
export class CurveColors {
  readonly #others = new Map<string, string>();

  constructor(runs: readonly TrainingRunJson[]) {
    for (const run of runs) {
      for (const epoch of run.epochs) {
        const { loss, metrics } = seriesOf(epoch);
        for (const [name] of [...loss, ...metrics]) this.of(name);
      }
    }
  }

  of(name: string): string {
    const fixed = CURVE_COLORS[name];
    if (fixed) return fixed;
    let color = this.#others.get(name);
    if (!color) {
      color = CURVE_OTHER_COLORS[this.#others.size % CURVE_OTHER_COLORS.length];
      this.#others.set(name, color);
    }
    return color;
  }
}

/** A run's curves: the loss chart's and the validation chart's, each series in epoch order. */
export function curvesOf(run: TrainingRunJson, colors: CurveColors): { loss: Curve[]; metrics: Curve[] } {
  const loss = new Map<string, Array<[number, number]>>();
  const metrics = new Map<string, Array<[number, number]>>();
  run.epochs.forEach((epoch, index) => {
    const x = epochOf(epoch, index);
    const series = seriesOf(epoch);
    for (const [target, fields] of [
      [loss, series.loss],
      [metrics, series.metrics],
    ] as const) {
      for (const [name, value] of fields) {
        const points = target.get(name) ?? [];
        points.push([x, value]);
        target.set(name, points);
      }
    }
  });
  const curves = (series: Map<string, Array<[number, number]>>) =>
    [...series].map(([name, points]) => ({
      name,
      color: colors.of(name),
      points: points.sort((a, b) => a[0] - b[0]),
    }));
  return { loss: curves(loss), metrics: curves(metrics) };
}

/** A round step for about `count` intervals over `span`: 1, 2 or 5 times a power of ten. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

/** Ticks covering [low, high] on round values; a flat series gets some room around its value. */
function ticks(low: number, high: number, count: number, integers = false): number[] {
  if (low === high) {
    const room = integers ? 1 : Math.abs(low) * 0.1 || 0.5;
    return ticks(low - room, high + room, count, integers);
  }
  const step = Math.max(niceStep(high - low, count), integers ? 1 : 0);
  const first = Math.floor(low / step) * step;
  const found: number[] = [];
  for (let value = first; value < high + step * 0.999; value += step)
    found.push(Number(value.toPrecision(12)));
  return found;
}

function tickFormat(step: number): (value: number) => string {
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return (value) => value.toFixed(digits);
}

/** A final value as the legend shows it: small numbers with three decimals, large ones with four digits. */
export function metricValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) < 10 ? value.toFixed(3) : String(Number(value.toPrecision(4)));
}

const WIDTH = 360;
const HEIGHT = 170;
const PLOT = { left: 46, right: WIDTH - 10, top: 8, bottom: HEIGHT - 34 };
/** Beyond this many epochs the dots crowd the line; a lone point is always drawn, as a line needs two. */
const MAX_DOTS = 30;

export interface CurveChartSpec {
  title: string;
  /** The y axis label. */
  axis: string;
  /** At least one, each with at least one point. */
  curves: Curve[];
}

export function curveChart(spec: CurveChartSpec): HTMLElement {
  const points = spec.curves.flatMap((c) => c.points);
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const xTicks = ticks(Math.min(...xs), Math.max(...xs), 6, true);
  // Scores (accuracy, IoU, Dice) never read below 0 or above 1, even when a flat curve gets room around it.
  const scores = ys.every((y) => y >= 0 && y <= 1);
  const yTicks = ticks(Math.min(...ys), Math.max(...ys), 4).filter((v) => !scores || (v >= 0 && v <= 1));
  const yFormat = tickFormat(yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1);
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [Math.min(yTicks[0], ...ys), Math.max(yTicks[yTicks.length - 1], ...ys)];
  const px = (x: number) => PLOT.left + ((x - x0) / (x1 - x0)) * (PLOT.right - PLOT.left);
  const py = (y: number) => PLOT.bottom - ((y - y0) / (y1 - y0 || 1)) * (PLOT.bottom - PLOT.top);
  const at = (value: number) => value.toFixed(1);

  const chart = svg('svg', {
    class: 'curve-chart',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `${spec.title}: ${spec.curves
      .map((c) => {
        const [first, last] = [c.points[0], c.points[c.points.length - 1]];
        return `${metricLabel(c.name)} from ${metricValue(first[1])} at epoch ${first[0]} to ${metricValue(last[1])} at epoch ${last[0]}`;
      })
      .join('; ')}`,
  });
  for (const value of yTicks) {
    const y = at(py(value));
    chart.append(
      svg('line', { x1: PLOT.left, x2: PLOT.right, y1: y, y2: y, class: 'curve-grid' }),
      svg('text', { x: PLOT.left - 5, y: Number(y) + 3.5, 'text-anchor': 'end' }, yFormat(value)),
    );
  }
  for (const value of xTicks) {
    chart.append(
      svg('text', { x: at(px(value)), y: PLOT.bottom + 14, 'text-anchor': 'middle' }, String(value)),
    );
  }
  chart.append(
    svg('line', { x1: PLOT.left, x2: PLOT.right, y1: PLOT.bottom, y2: PLOT.bottom, class: 'curve-axis' }),
    svg('line', { x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: PLOT.bottom, class: 'curve-axis' }),
    svg(
      'text',
      { x: (PLOT.left + PLOT.right) / 2, y: HEIGHT - 4, 'text-anchor': 'middle', class: 'curve-axis-label' },
      'epoch',
    ),
    svg(
      'text',
      {
        x: 0,
        y: 0,
        transform: `translate(11 ${(PLOT.top + PLOT.bottom) / 2}) rotate(-90)`,
        'text-anchor': 'middle',
        class: 'curve-axis-label',
      },
      spec.axis,
    ),
  );
  for (const curve of spec.curves) {
    const label = metricLabel(curve.name);
    const d = curve.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${at(px(x))} ${at(py(y))}`).join(' ');
    const line = svg('path', { d, stroke: curve.color, class: 'curve-line', 'data-series': curve.name });
    line.append(svg('title', {}, label));
    chart.append(line);
    if (curve.points.length > MAX_DOTS) continue;
    for (const [x, y] of curve.points) {
      const dot = svg('circle', {
        cx: at(px(x)),
        cy: at(py(y)),
        r: 2.5,
        fill: curve.color,
        class: 'curve-dot',
      });
      dot.append(svg('title', {}, `${label}, epoch ${x}: ${metricValue(y)}`));
      chart.append(dot);
    }
  }
  return h(
    'figure',
    { class: 'curve-figure' },
    h('figcaption', { class: 'chart-title' }, spec.title),
    chart,
    h(
      'ul',
      { class: 'curve-legend' },
      ...spec.curves.map((curve) =>
        h(
          'li',
          { 'data-series': curve.name },
          swatch(curve.color),
          metricLabel(curve.name),
          h('span', { class: 'curve-last' }, metricValue(curve.points[curve.points.length - 1][1])),
        ),
      ),
    ),
  );
}
