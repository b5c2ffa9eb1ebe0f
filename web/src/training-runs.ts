/**
 * A model's training runs on the models page, as an experiment tracker lists them: one row per run (state, kind,
 * dataset version, start, duration, final metrics, and the version it produced with the gate's verdict, or its
 * error), and the learning curves of the run picked (the newest with epochs at first). A produced version links
 * to its row in the card's version list.
 */
import type { TrainingRunJson } from '../../src/learning/training/wire-types.js';
import { append, type Child, h, replace, uniqueId } from './dom';
import { duration } from './format';
import {
  CurveColors,
  curveChart,
  curvesOf,
  metricLabel,
  metricValue,
  numericFields,
} from './learning-curves';
import { versionRowId } from './version-history';

/** Runs asked for per model: the page is for a glance, the API lists them all. */
export const SHOWN_RUNS = 10;
/** Final metrics shown in a row; the curves and the API have the rest. */
const SHOWN_METRICS = 4;

const STATE_BADGE: Record<TrainingRunJson['state'], string> = {
  running: 'state-loading',
  succeeded: 'state-ready',
  failed: 'state-failed',
};

function elapsed(run: TrainingRunJson): string {
  const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
  const text = duration(Math.max(0, (end - Date.parse(run.started_at)) / 1000));
  return run.finished_at ? text : `running for ${text}`;
}

/** `3 of 10 epochs`: how far a run got, from what its last epoch says the total is. */
function epochCount(run: TrainingRunJson): string {
  const last = run.epochs[run.epochs.length - 1];
  const total = typeof last?.epochs === 'number' ? last.epochs : undefined;
  const done = run.epochs.length;
  if (total !== undefined && total !== done) return `${done} of ${total} epochs`;
  return `${done} epoch${done === 1 ? '' : 's'}`;
}

function datasetOf(run: TrainingRunJson): string {
  if (!run.dataset && !run.dataset_version) return 'no dataset version';
  const version = run.dataset_version && `version ${run.dataset_version.slice(0, 12)}`;
  return ['dataset', run.dataset, version].filter(Boolean).join(' ');
}

/** The run's final metrics; a run that never finished shows its last epoch's validation instead. */
function finalMetrics(run: TrainingRunJson): HTMLElement | null {
  const final = numericFields(run.metrics);
  const fields = final.length > 0 ? final : numericFields(run.epochs[run.epochs.length - 1]?.val);
  if (fields.length === 0) return null;
  return h(
    'p',
    { class: 'run-metrics' },
    final.length > 0 ? null : h('span', { class: 'hint' }, 'last epoch: '),
    fields
      .slice(0, SHOWN_METRICS)
      .map(([name, value]) => `${metricLabel(name)} ${metricValue(value)}`)
      .join(' · '),
  );
}

/** Scrolls to the version's row and focuses it, without touching the address (the app routes on it). */
function linkToVersion(model: string, version: number): HTMLElement {
  const id = versionRowId(model, version);
  const link = h('a', { href: `#${id}`, class: 'run-version' }, `v${version}`);
  link.addEventListener('click', (event) => {
    const row = document.getElementById(id);
    if (!row) return;
    event.preventDefault();
    row.scrollIntoView({ block: 'center' });
    row.focus({ preventScroll: true });
  });
  return link;
}

function outcome(model: string, run: TrainingRunJson, versions: ReadonlySet<number>): HTMLElement | null {
  if (run.produced) {
    const { version, gate } = run.produced;
    return h(
      'p',
      { class: 'run-produced' },
      'produced ',
      versions.has(version) ? linkToVersion(model, version) : h('span', { class: 'version' }, `v${version}`),
      ' ',
      gate
        ? h(
            'span',
            { class: `badge ${gate.accepted ? 'state-ready' : 'state-failed'}` },
            gate.accepted ? 'gate accepted' : 'gate refused',
          )
        : h('span', { class: 'hint' }, 'not gated'),
      gate?.reason ? h('span', { class: 'hint' }, ` ${gate.reason}`) : null,
    );
  }
  if (run.error) return h('p', { class: 'run-error' }, run.error);
  return null;
}

function runRow(
  model: string,
  run: TrainingRunJson,
  versions: ReadonlySet<number>,
  curvesId: string,
  select: (run: TrainingRunJson) => void,
): { row: HTMLElement; button: HTMLButtonElement } {
  const button = h(
    'button',
    {
      type: 'button',
      class: 'run-select',
      'aria-pressed': 'false',
      'aria-controls': curvesId,
      title: 'Show the learning curves of this run',
    },
    h('span', { class: `badge ${STATE_BADGE[run.state]}` }, run.state),
    h('span', { class: 'run-kind' }, run.kind),
    h('code', { class: 'run-id', title: run.id }, run.id.slice(0, 8)),
    h('span', { class: 'run-when' }, `${new Date(run.started_at).toLocaleString()} · ${elapsed(run)}`),
  );
  button.addEventListener('click', () => select(run));
  const row = h(
    'li',
    { class: 'run-row', 'data-run': run.id, 'data-state': run.state },
    button,
    h('p', { class: 'hint run-data' }, `${datasetOf(run)} · ${epochCount(run)}`),
    finalMetrics(run),
    outcome(model, run, versions),
  );
  return { row, button };
}

function learningCurves(run: TrainingRunJson, colors: CurveColors): Child[] {
  const { loss, metrics } = curvesOf(run, colors);
  const heading = h('h4', {}, `Learning curves · ${run.kind} run ${run.id.slice(0, 8)}`);
  if (loss.length === 0 && metrics.length === 0)
    return [heading, h('p', { class: 'empty-state' }, 'This run has reported no epoch yet.')];
  return [
    heading,
    h(
      'div',
      { class: 'curve-pair' },
      loss.length > 0 && curveChart({ title: 'Loss', axis: 'loss', curves: loss }),
      metrics.length > 0 && curveChart({ title: 'Validation', axis: 'score', curves: metrics }),
    ),
  ];
}

/** `runs` newest first, as the API lists them; `versions` those the card lists (a produced one links there). */
export function trainingRunsSection(
  model: string,
  runs: readonly TrainingRunJson[],
  versions: ReadonlySet<number>,
): HTMLElement {
  const titleId = uniqueId('training-runs');
  const section = h(
    'section',
    { class: 'training-runs', 'aria-labelledby': titleId },
    h('h3', { id: titleId }, 'Training runs'),
  );
  if (runs.length === 0) {
    section.append(
      h('p', { class: 'empty-state' }, 'No training run recorded. segserve train reports its runs here.'),
    );
    return section;
  }
  const colors = new CurveColors(runs);
  const curvesId = uniqueId('run-curves');
  const curves = h('div', { class: 'learning-curves', id: curvesId });
  const buttons = new Map<string, HTMLButtonElement>();
  const select = (run: TrainingRunJson) => {
    for (const [id, button] of buttons) button.setAttribute('aria-pressed', String(id === run.id));
    curves.setAttribute('data-run', run.id);
    replace(curves, ...learningCurves(run, colors));
  };
  const rows = runs.map((run) => {
    const { row, button } = runRow(model, run, versions, curvesId, select);
    buttons.set(run.id, button);
    return row;
  });
  append(
    section,
    h('ol', { class: 'runs' }, ...rows),
    runs.length >= SHOWN_RUNS
      ? h('p', { class: 'hint' }, `The ${SHOWN_RUNS} newest runs; the API lists them all.`)
      : null,
    curves,
  );
  select(runs.find((run) => run.epochs.length > 0) ?? runs[0]);
  return section;
}
