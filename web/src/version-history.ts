/**
 * A model's version history on the models page: the aliases beside each version, a bar chart of each version's
 * latest evaluation (the promotion gate's metric, the `stable` version marked), and the timeline of uploads,
 * evaluations, promotions, refusals and rollbacks with who did them.
 */
import type {
  EvaluationSummaryJson,
  HistoryEntryJson,
  ModelHistoryJson,
} from '../../src/lifecycle/wire-types.js';
import { h, svg } from './dom';

/** The id of a version's row in its model's card, which a training run links to. */
export function versionRowId(model: string, version: number): string {
  return `version-${model.replace(/\s/g, '_')}-${version}`;
}

/** Aliases by version: `{3: ['stable'], 4: ['canary']}`. */
export function aliasesByVersion(history: ModelHistoryJson): Map<number, string[]> {
  const byVersion = new Map<number, string[]>();
  for (const alias of history.aliases)
    byVersion.set(alias.version, [...(byVersion.get(alias.version) ?? []), alias.alias]);
  return byVersion;
}

/** The latest evaluation of each version on the metric and dataset of the latest evaluation overall. */
function latestFigures(evaluations: EvaluationSummaryJson[]): EvaluationSummaryJson[] {
  const newest = evaluations[0];
  if (!newest) return [];
  const byVersion = new Map<number, EvaluationSummaryJson>();
  for (const e of evaluations) {
    if (e.metric !== newest.metric || e.dataset !== newest.dataset || byVersion.has(e.version)) continue;
    byVersion.set(e.version, e);
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

function evaluationChart(history: ModelHistoryJson): Element | null {
  const figures = latestFigures(history.evaluations);
  if (figures.length === 0) return null;
  const stable = history.aliases.find((a) => a.alias === 'stable')?.version;
  const width = 320;
  const barHeight = 18;
  const gap = 6;
  const labelWidth = 44;
  const height = figures.length * (barHeight + gap) + 4;
  const chart = svg('svg', {
    class: 'evaluation-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${figures[0].metric} per version on ${figures[0].dataset}`,
  });
  figures.forEach((figure, i) => {
    const y = i * (barHeight + gap) + 2;
    const span = width - labelWidth - 60;
    const value = Math.max(0, Math.min(1, figure.value));
    chart.append(
      svg('text', { x: 0, y: y + barHeight - 5, class: 'chart-label' }, `v${figure.version}`),
      svg('rect', { x: labelWidth, y, width: span, height: barHeight, class: 'eval-bar-track', rx: 3 }),
      svg('rect', {
        x: labelWidth,
        y,
        width: Math.max(1, span * value),
        height: barHeight,
        rx: 3,
        class: figure.version === stable ? 'eval-bar eval-bar-stable' : 'eval-bar',
      }),
      svg(
        'text',
        { x: labelWidth + span + 6, y: y + barHeight - 5, class: 'chart-value' },
        figure.value.toFixed(3),
      ),
    );
  });
  return h(
    'figure',
    { class: 'evaluation' },
    chart,
    h(
      'figcaption',
      { class: 'hint' },
      `${figures[0].metric} on ${figures[0].dataset} (latest evaluation of each version; stable in green)`,
    ),
  );
}

function describe(entry: HistoryEntryJson): string {
  const d = entry.details as Record<string, unknown>;
  const v = entry.version === null ? '' : `v${entry.version}`;
  const gate = d.gate as
    | { metric: string; candidate: number; current: number | null; tolerance: number }
    | undefined;
  const compared = gate
    ? ` (${gate.metric} ${gate.candidate.toFixed(3)}${gate.current === null ? '' : ` vs ${gate.current.toFixed(3)}`}, tolerance ${gate.tolerance})`
    : '';
  switch (entry.kind) {
    case 'uploaded':
      return `${v} uploaded${d.created ? ' (new model)' : ''}`;
    case 'evaluated':
      return `${v} evaluated: ${String(d.metric)} ${Number(d.value).toFixed(3)} on ${String(d.dataset)}`;
    case 'promoted':
      return `${v} promoted to stable${compared}${d.gated === false ? ` without the gate: ${String(d.why)}` : ''}`;
    case 'promotion_refused':
      return `${v} refused by the gate${compared}`;
    case 'rolled_back':
      return `stable rolled back from v${String(d.from)} to ${v}`;
    case 'alias_set':
      return `alias ${String(d.alias)} → ${v}`;
    case 'alias_removed':
      return `alias ${String(d.alias)} removed (was ${v})`;
    default:
      return `${entry.kind} ${v}`;
  }
}

/** Entries shown: the newest first, the latest few (the API has them all). */
const SHOWN_ENTRIES = 12;

export function historySection(history: ModelHistoryJson): HTMLElement | null {
  if (history.history.length === 0 && history.aliases.length === 0) return null;
  const entries = [...history.history].reverse().slice(0, SHOWN_ENTRIES);
  return h(
    'section',
    { class: 'version-history' },
    h('h3', {}, 'Version history'),
    evaluationChart(history),
    h(
      'ol',
      { class: 'timeline' },
      ...entries.map((entry) =>
        h(
          'li',
          { class: `event event-${entry.kind}` },
          h('span', { class: 'when' }, new Date(entry.at).toLocaleString()),
          h('span', {}, describe(entry)),
          h('span', { class: 'hint' }, ` by ${entry.actor}`),
        ),
      ),
    ),
  );
}
