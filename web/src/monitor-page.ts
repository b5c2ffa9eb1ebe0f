/**
 * The monitor page (`/monitor`): how the server and each model version are doing, for a single machine where no
 * Grafana runs. A row of big numbers on top (the last minute, coloured by the thresholds of the shipped alert
 * rules), the batch jobs running now, then one card per model version with its charts. It polls
 * `GET /v1/monitor` (and `GET /v1/jobs?state=running`) every few seconds while the page is shown and the tab
 * visible, and redraws in place.
 */
import type {
  MonitorHeadline,
  MonitorJson,
  MonitorVersion,
  OutcomeRates,
  SignalName,
} from '../../src/monitoring/monitor-types.js';
import { monitor, runningJobs } from './api';
import { Chart, type ChartSpec, darkScheme, loadCharts, type SeriesSpec, type Values } from './charts';
import { h, replace } from './dom';
import { percent } from './format';
import { JobsSection, RUNNING_JOBS_SHOWN } from './jobs-section';
import {
  CLASS_COLORS,
  LIMIT_COLOR,
  OTHER_COLOR,
  OUTCOME_COLORS,
  QUEUE_COLOR,
  SIGNAL_COLORS,
  SPREAD_COLOR,
  STAGE_COLORS,
} from './monitor-colors';
import { problem } from './problem';

type ChartLibrary = Awaited<ReturnType<typeof loadCharts>>;
type Tone = 'ok' | 'warn' | 'bad' | 'idle';

/** The history is kept in 5 s buckets: polling faster would only redraw the same buckets. */
const POLL_MS = 5000;

const WINDOWS = [
  { seconds: 60, label: 'Last minute' },
  { seconds: 300, label: 'Last 5 minutes' },
  { seconds: 900, label: 'Last 15 minutes' },
] as const;

/**
 * The thresholds of the alerts in deploy/prometheus/rules/segserve.rules.yml (SegserveHighErrorRatio 5%,
 * SegserveHighLatencyP95 2 s, SegserveQueueSaturated 80%), so the page turns red where the alert would fire;
 * amber at half of them, or at the first error, as an early sign.
 */
const LIMITS = { errorRatio: 0.05, p95Ms: 2000, saturation: 0.8 } as const;

const OUTCOME_SERIES: Array<{ key: keyof OutcomeRates; label: string }> = [
  { key: 'ok', label: 'ok' },
  { key: 'client_error', label: 'client errors' },
  { key: 'refused', label: 'refused (503)' },
  { key: 'server_error', label: 'server errors' },
];

const STAGES = ['decode', 'preprocess', 'queue', 'infer', 'postprocess', 'encode'] as const;

const rate = (value: number) => (value === 0 ? '0' : value < 10 ? value.toFixed(1) : value.toFixed(0));
const ms = (value: number) =>
  value === 0
    ? '0'
    : value >= 1000
      ? `${(value / 1000).toFixed(1)} s`
      : value < 10
        ? value.toFixed(1)
        : value.toFixed(0);
const count = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1));
const share = (value: number) => (value === 0 ? '0%' : percent(value));
const psi = (value: number) => value.toFixed(2);

function windowLabel(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} minute${seconds === 60 ? '' : 's'}` : `${seconds} seconds`;
}

/** Predictions or requests in the window: what decides between charts and the empty state. */
function hasTraffic(version: MonitorVersion): boolean {
  const any = (values: number[]) => values.some((v) => v > 0);
  return any(version.predictions) || Object.values(version.requests).some(any);
}

function errorTone(headline: MonitorHeadline): Tone {
  const errors = headline.error_ratio ?? 0;
  if (headline.error_ratio === null) return 'idle';
  if (errors >= LIMITS.errorRatio) return 'bad';
  return errors > 0 || (headline.refused_ratio ?? 0) > 0 ? 'warn' : 'ok';
}

function latencyTone(p95: number | null): Tone {
  if (p95 === null) return 'idle';
  return p95 >= LIMITS.p95Ms ? 'bad' : p95 >= LIMITS.p95Ms / 2 ? 'warn' : 'ok';
}

function saturationTone(depth: number, capacity: number): Tone {
  if (capacity <= 0) return 'idle';
  const saturation = depth / capacity;
  return saturation >= LIMITS.saturation ? 'bad' : saturation >= LIMITS.saturation / 2 ? 'warn' : 'ok';
}

/** One big number with its label and a line of context, coloured by state. */
class Tile {
  readonly element: HTMLElement;
  readonly #value = h('dd', { class: 'tile-value' }, '–');
  readonly #detail = h('dd', { class: 'tile-detail' });

  constructor(label: string) {
    this.element = h(
      'div',
      { class: 'tile', 'data-state': 'idle' },
      h('dt', {}, label),
      this.#value,
      this.#detail,
    );
  }

  set(value: string, detail: string, tone: Tone): void {
    this.#value.textContent = value;
    this.#detail.textContent = detail;
    this.element.dataset.state = tone;
  }
}

/** A chart that is rebuilt when its series change (a new class appears) and redrawn in place otherwise. */
class ChartSlot {
  readonly element = h('div', { class: 'chart-slot' });
  #chart: Chart | null = null;
  #signature = '';

  show(lib: ChartLibrary, spec: ChartSpec, times: number[], values: Values[]): void {
    // The colour scheme is part of it: axes and grid take their colours from the scheme when built.
    const signature = JSON.stringify([spec.title, spec.axis, spec.series, spec.range, darkScheme.matches]);
    if (signature !== this.#signature) {
      this.#chart?.destroy();
      this.#chart = new Chart(lib, spec);
      this.#signature = signature;
      replace(this.element, this.#chart.element);
    }
    this.#chart?.update(times, values);
  }

  /** A note in place of the chart (drift off, reference still collecting). */
  note(title: string, text: string): void {
    this.clear();
    replace(
      this.element,
      h(
        'figure',
        { class: 'chart chart-note' },
        h('figcaption', { class: 'chart-title' }, title),
        h('p', {}, text),
      ),
    );
  }

  clear(): void {
    this.#chart?.destroy();
    this.#chart = null;
    this.#signature = '';
  }
}

function requestsSpec(testId: string, title: string): ChartSpec {
  return {
    title,
    axis: 'requests / s',
    testId,
    series: OUTCOME_SERIES.map(
      (o): SeriesSpec => ({ label: o.label, color: OUTCOME_COLORS[o.key], kind: 'bars' }),
    ),
    format: rate,
  };
}

function requestValues(rates: OutcomeRates): Values[] {
  return OUTCOME_SERIES.map((o) => rates[o.key]);
}

/** One model version: its state and figures, and its charts (or the empty state without traffic). */
class VersionCard {
  readonly element: HTMLElement;
  readonly #badges = h('span', { class: 'monitor-badges' });
  readonly #stats = h('dl', { class: 'monitor-stats' });
  readonly #empty = h('p', { class: 'empty-state' });
  readonly #grid: HTMLElement;
  readonly #slots = {
    requests: new ChartSlot(),
    latency: new ChartSlot(),
    queue: new ChartSlot(),
    uncertainty: new ChartSlot(),
    classes: new ChartSlot(),
    drift: new ChartSlot(),
  };

  constructor(version: MonitorVersion) {
    this.#grid = h('div', { class: 'chart-grid' }, ...Object.values(this.#slots).map((s) => s.element));
    const title = `${version.model} v${version.version}`;
    this.element = h(
      'article',
      {
        class: 'monitor-card',
        'data-model': version.model,
        'data-version': version.version,
        'aria-label': title,
      },
      h('header', { class: 'monitor-card-head' }, h('h2', {}, title), this.#badges),
      this.#stats,
      this.#empty,
      this.#grid,
    );
  }

  update(lib: ChartLibrary, version: MonitorVersion, json: MonitorJson): void {
    this.#updateHead(version);
    const id = `${version.model}-v${version.version}`;
    const traffic = hasTraffic(version);
    this.#empty.hidden = traffic;
    this.#grid.hidden = !traffic;
    this.#empty.textContent = `No predictions in the last ${windowLabel(json.window_seconds)}.`;
    if (!traffic) {
      for (const slot of Object.values(this.#slots)) slot.clear();
      return;
    }
    const { times } = json;
    const slots = this.#slots;
    slots.requests.show(
      lib,
      requestsSpec(`requests-${id}`, 'Requests per second'),
      times,
      requestValues(version.requests),
    );

    const stages = STAGES.map(
      (stage): SeriesSpec => ({ label: stage, color: STAGE_COLORS[stage], kind: 'bars' }),
    );
    slots.latency.show(
      lib,
      {
        title: 'Latency by stage (mean, stacked) and p95',
        axis: 'ms',
        testId: `latency-${id}`,
        series: [...stages, { label: 'p95 total', color: LIMIT_COLOR, width: 1.5, dash: [6, 4] }],
        format: ms,
      },
      times,
      [...STAGES.map((stage) => version.latency_ms.mean[stage]), version.latency_ms.p95.total],
    );

    const capacity = version.queue.capacity;
    slots.queue.show(
      lib,
      {
        title: 'Queue depth',
        axis: 'requests',
        testId: `queue-${id}`,
        series: [
          { label: 'queued (max)', color: QUEUE_COLOR, kind: 'bars' },
          ...(capacity === null
            ? []
            : [{ label: 'capacity', color: LIMIT_COLOR, width: 1.5, dash: [6, 4], limit: true }]),
        ],
        format: count,
      },
      times,
      [version.queue_depth, ...(capacity === null ? [] : [times.map(() => capacity)])],
    );

    const spread = version.uncertainty;
    if (spread) {
      const entropy = spread.kind === 'entropy';
      slots.uncertainty.show(
        lib,
        {
          title: entropy ? 'Entropy per prediction (p10–p90)' : 'Instance scores (p10–p90)',
          axis: entropy ? 'mean entropy (0–1)' : 'score (0–1)',
          testId: `uncertainty-${id}`,
          series: [
            { label: 'p10–p90', color: SPREAD_COLOR, kind: 'range', lowerFrom: 2 },
            { label: 'median', color: SPREAD_COLOR, width: 2.5 },
            { label: 'p10', color: SPREAD_COLOR, width: 1 },
          ],
          // Entropy of a confident model stays near 0: its axis follows the data. Scores span 0..1.
          ...(entropy ? { rangeCap: 1 } : { range: [0, 1] as [number, number] }),
          format: (v) => v.toFixed(2),
        },
        times,
        [spread.p90, spread.p50, spread.p10],
      );
    } else {
      slots.uncertainty.note('Uncertainty', 'This model answers raw tensors only: no uncertainty to chart.');
    }

    const classes = version.classes;
    if (classes.labels.length > 0) {
      slots.classes.show(
        lib,
        {
          title:
            version.task === 'instance'
              ? 'Class mix (share of instances)'
              : version.task === 'classification'
                ? 'Class mix (share of images, by best class)'
                : 'Class mix (share of image area)',
          axis: 'share',
          testId: `classes-${id}`,
          series: classes.labels.map(
            (label, i): SeriesSpec => ({
              label,
              color: label === 'other' && i === classes.labels.length - 1 ? OTHER_COLOR : CLASS_COLORS[i % 8],
              kind: 'bars',
            }),
          ),
          range: [0, 1],
          format: share,
        },
        times,
        classes.shares,
      );
    } else {
      slots.classes.note('Class mix', 'Nothing was found in this window.');
    }

    this.#updateDrift(lib, version, times, id);
  }

  /** Stops its charts (their resize observers) when the version is gone. */
  destroy(): void {
    for (const slot of Object.values(this.#slots)) slot.clear();
  }

  #updateDrift(lib: ChartLibrary, version: MonitorVersion, times: number[], id: string): void {
    const drift = version.drift;
    const slot = this.#slots.drift;
    if (!drift) {
      slot.note(
        'Drift',
        'Drift monitoring is off for this model (monitoring.drift.enabled is false in its config.yaml).',
      );
      return;
    }
    const signals = Object.entries(drift.signals) as Array<[SignalName, Values]>;
    if (drift.phase === 'reference' || signals.length === 0) {
      slot.note(
        'Drift',
        drift.phase === 'reference'
          ? `Collecting the reference: ${drift.reference.count} of ${drift.reference.size} predictions.`
          : `Filling the window: ${drift.window.count} of ${drift.window.size} predictions.`,
      );
      return;
    }
    slot.show(
      lib,
      {
        title: 'Drift (PSI per signal)',
        axis: 'PSI',
        testId: `drift-${id}`,
        series: [
          ...signals.map(
            ([signal]): SeriesSpec => ({ label: signal.replace('_', ' '), color: SIGNAL_COLORS[signal] }),
          ),
          {
            label: `threshold ${drift.threshold}`,
            color: LIMIT_COLOR,
            width: 1.5,
            dash: [6, 4],
            limit: true,
          },
        ],
        format: psi,
      },
      times,
      [...signals.map(([, values]) => values), times.map(() => drift.threshold)],
    );
  }

  #updateHead(version: MonitorVersion): void {
    const badges: HTMLElement[] = [];
    if (version.task) badges.push(h('span', { class: 'badge' }, version.task));
    badges.push(
      h(
        'span',
        {
          class: `badge state-${version.ready ? 'ready' : version.state === 'loading' ? 'loading' : 'failed'}`,
        },
        version.ready ? 'ready' : version.state === 'ready' ? 'no live session' : version.state,
      ),
    );
    const drift = version.drift;
    if (drift?.detected)
      badges.push(h('span', { class: 'badge state-failed', 'data-drift': 'detected' }, 'drift detected'));
    else if (drift?.phase === 'monitoring')
      badges.push(h('span', { class: 'badge state-ready' }, 'no drift'));
    replace(this.#badges, ...badges);

    const { headline, queue } = version;
    const stat = (label: string, value: string, tone: Tone) =>
      h('div', { class: 'stat', 'data-state': tone }, h('dt', {}, label), h('dd', {}, value));
    replace(
      this.#stats,
      stat('req/s', rate(headline.requests_per_second), headline.requests_per_second > 0 ? 'ok' : 'idle'),
      stat(
        'p95',
        headline.p95_ms === null ? '–' : `${ms(headline.p95_ms)}${headline.p95_ms >= 1000 ? '' : ' ms'}`,
        latencyTone(headline.p95_ms),
      ),
      stat(
        'errors',
        headline.error_ratio === null ? '–' : percent(headline.error_ratio),
        errorTone(headline),
      ),
      stat(
        'queue',
        queue.depth === null ? '–' : `${queue.depth} / ${queue.capacity ?? '?'}`,
        queue.depth === null ? 'idle' : saturationTone(queue.depth, queue.capacity ?? 0),
      ),
    );
  }
}

export class MonitorPage {
  readonly element: HTMLElement;
  readonly #status = h('p', { class: 'monitor-status' }, 'Loading…');
  readonly #problem = h('div', { class: 'monitor-problem' });
  readonly #tiles = {
    requests: new Tile('Requests / s'),
    latency: new Tile('p95 latency'),
    errors: new Tile('Errors'),
    inFlight: new Tile('In flight'),
    models: new Tile('Models ready'),
    drift: new Tile('Drift'),
  };
  readonly #server = new ChartSlot();
  readonly #serverEmpty = h('p', { class: 'empty-state' });
  readonly #jobs = new JobsSection();
  readonly #cards = h('div', { class: 'monitor-cards' });
  readonly #versions = new Map<string, VersionCard>();
  readonly #window: HTMLSelectElement;
  #windowSeconds = 900;
  #mounted = false;
  #timer: number | undefined;
  #request: AbortController | undefined;
  #last: { lib: ChartLibrary; json: MonitorJson } | undefined;

  constructor() {
    const asked = Number(new URLSearchParams(location.search).get('window'));
    if (WINDOWS.some((w) => w.seconds === asked)) this.#windowSeconds = asked;
    this.#window = h(
      'select',
      { id: 'monitor-window', 'aria-label': 'Time window' },
      ...WINDOWS.map((w) =>
        h('option', { value: w.seconds, selected: w.seconds === this.#windowSeconds }, w.label),
      ),
    );
    this.#window.addEventListener('change', () => {
      this.#windowSeconds = Number(this.#window.value);
      const url = new URL(location.href);
      url.searchParams.set('window', String(this.#windowSeconds));
      history.replaceState(null, '', url.pathname + url.search);
      void this.#poll();
    });
    this.element = h(
      'div',
      { class: 'page monitor-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Monitor'), this.#window),
      this.#status,
      this.#problem,
      h(
        'dl',
        { class: 'tiles', 'aria-label': 'The last minute' },
        ...Object.values(this.#tiles).map((t) => t.element),
      ),
      h(
        'section',
        { class: 'monitor-card server-card', 'aria-label': 'All models' },
        this.#serverEmpty,
        this.#server.element,
      ),
      this.#jobs.element,
      this.#cards,
    );
  }

  mount(): void {
    if (this.#mounted) return;
    this.#mounted = true;
    document.addEventListener('visibilitychange', this.#onVisibility);
    darkScheme.addEventListener('change', this.#onScheme);
    void this.#poll();
  }

  unmount(): void {
    this.#mounted = false;
    document.removeEventListener('visibilitychange', this.#onVisibility);
    darkScheme.removeEventListener('change', this.#onScheme);
    this.#stop();
  }

  /** Light to dark or back: the charts are rebuilt in the new scheme's colours from the last data. */
  readonly #onScheme = () => {
    if (this.#last) this.#render(this.#last.lib, this.#last.json);
  };

  readonly #onVisibility = () => {
    if (document.hidden) {
      this.#stop();
      this.#status.textContent = 'Paused while this tab is hidden.';
    } else {
      void this.#poll();
    }
  };

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#request?.abort();
    this.#request = undefined;
  }

  async #poll(): Promise<void> {
    this.#stop();
    if (!this.#mounted || document.hidden) return;
    const request = new AbortController();
    this.#request = request;
    try {
      const [lib, json, jobs] = await Promise.all([
        loadCharts(),
        monitor(this.#windowSeconds, request.signal),
        // Shown in its own section when it fails: the models' figures still update.
        runningJobs(RUNNING_JOBS_SHOWN, request.signal).catch((error: unknown) => ({ error })),
      ]);
      if (request.signal.aborted) return;
      this.#render(lib, json);
      if ('error' in jobs) this.#jobs.fail(jobs.error);
      else this.#jobs.show(jobs);
      replace(this.#problem);
      this.#status.textContent = `Live · updated ${new Date(json.now).toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
    } catch (error) {
      if (request.signal.aborted) return;
      // The last charts stay: a failed poll says so and the next one tries again.
      replace(this.#problem, problem(error, 'The monitor data could not be loaded.', false));
      this.#status.textContent = 'Retrying…';
    }
    if (this.#request === request) this.#timer = window.setTimeout(() => void this.#poll(), POLL_MS);
  }

  #render(lib: ChartLibrary, json: MonitorJson): void {
    this.#last = { lib, json };
    this.#renderTiles(json);
    const total = Object.values(json.server.requests).some((values) => values.some((v) => v > 0));
    this.#serverEmpty.hidden = total;
    this.#serverEmpty.textContent = `No requests in the last ${windowLabel(json.window_seconds)}.`;
    this.#server.element.hidden = !total;
    if (total) {
      this.#server.show(
        lib,
        requestsSpec('requests-server', 'Requests per second, all models'),
        json.times,
        requestValues(json.server.requests),
      );
    } else {
      this.#server.clear();
    }

    const seen = new Set<string>();
    const ordered: HTMLElement[] = [];
    for (const version of json.models) {
      const key = `${version.model}\u0000${version.version}`;
      seen.add(key);
      let card = this.#versions.get(key);
      if (!card) {
        card = new VersionCard(version);
        this.#versions.set(key, card);
      }
      card.update(lib, version, json);
      ordered.push(card.element);
    }
    for (const [key, card] of this.#versions) {
      if (seen.has(key)) continue;
      card.destroy();
      this.#versions.delete(key);
    }
    if (ordered.length === 0)
      replace(this.#cards, h('p', { class: 'empty-state' }, 'No model is being served.'));
    else replace(this.#cards, ...ordered);
  }

  #renderTiles(json: MonitorJson): void {
    const { headline } = json.server;
    const tiles = this.#tiles;
    tiles.requests.set(
      rate(headline.requests_per_second),
      `${rate(headline.predictions_per_second)} predictions / s`,
      headline.requests_per_second > 0 ? 'ok' : 'idle',
    );
    tiles.latency.set(
      headline.p95_ms === null
        ? '–'
        : headline.p95_ms >= 1000
          ? ms(headline.p95_ms)
          : `${ms(headline.p95_ms)} ms`,
      'end to end, all models',
      latencyTone(headline.p95_ms),
    );
    tiles.errors.set(
      headline.error_ratio === null ? '–' : percent(headline.error_ratio),
      headline.refused_ratio ? `${percent(headline.refused_ratio)} refused (503)` : 'server errors',
      errorTone(headline),
    );
    let depth = 0;
    let capacity = 0;
    let worst: Tone = 'idle';
    const rank: Record<Tone, number> = { idle: 0, ok: 1, warn: 2, bad: 3 };
    for (const version of json.models) {
      if (version.queue.depth === null || version.queue.capacity === null) continue;
      depth += version.queue.depth;
      capacity += version.queue.capacity;
      const tone = saturationTone(version.queue.depth, version.queue.capacity);
      if (rank[tone] > rank[worst]) worst = tone;
    }
    tiles.inFlight.set(String(json.server.in_flight), `${depth} queued · capacity ${capacity}`, worst);

    const ready = json.models.filter((m) => m.ready).length;
    tiles.models.set(
      `${ready} / ${json.models.length}`,
      json.server.status === 'ok' ? 'all ready' : json.server.status,
      json.models.length === 0 ? 'idle' : ready === 0 ? 'bad' : ready < json.models.length ? 'warn' : 'ok',
    );

    const watched = json.models.filter((m) => m.drift !== null);
    const drifting = watched.filter((m) => m.drift?.detected);
    const scoring = watched.filter((m) => m.drift?.phase === 'monitoring');
    if (drifting.length > 0) {
      tiles.drift.set('detected', drifting.map((m) => `${m.model} v${m.version}`).join(', '), 'bad');
    } else if (scoring.length > 0) {
      tiles.drift.set('none', `${scoring.length} of ${watched.length} watched`, 'ok');
    } else if (watched.length > 0) {
      tiles.drift.set('–', 'collecting the reference', 'idle');
    } else {
      tiles.drift.set('off', 'drift monitoring is off for every model', 'idle');
    }
  }
}
