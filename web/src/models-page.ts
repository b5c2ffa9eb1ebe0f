/** The models page: every model of the repository with its state, task, input, versions, labels and load errors. */

import type { TrainingRunJson, TrainingRunListJson } from '../../src/learning/training/wire-types.js';
import type { RetrainingTriggerJson } from '../../src/learning/wire-types.js';
import type { ModelHistoryJson } from '../../src/lifecycle/wire-types.js';
import type { LoadState, ModelJson, ModelListJson } from '../../src/serving/types.js';
import { modelHistory, retrainingTriggers, trainingRuns } from './api';
import { h, replace, uniqueId } from './dom';
import { models } from './model-store';
import { problem } from './problem';
import { SHOWN_RUNS, trainingRunsSection } from './training-runs';
import { aliasesByVersion, historySection, versionRowId } from './version-history';

function badge(state: LoadState): HTMLElement {
  return h('span', { class: `badge state-${state}` }, state);
}

const short = (value: number) => String(Number(value.toPrecision(4)));

function inputSummary(input: ModelJson['input']): Array<[string, string]> {
  if (!input) return [];
  const size = input.width && input.height ? `${input.width} × ${input.height}` : 'any size';
  const resize =
    input.resize === 'letterbox' && input.pad_value !== undefined
      ? `letterbox (pad ${input.pad_value})`
      : input.resize;
  const reduce = input.shrink_on_load ? 'shrink on load' : '';
  const tensor = [input.name, size, resize, reduce, input.layout, input.color].filter(Boolean).join(' · ');
  const norm = [
    input.scale !== undefined ? `scale ${short(input.scale)}` : '',
    input.mean ? `mean [${input.mean.map(short).join(', ')}]` : '',
    input.std ? `std [${input.std.map(short).join(', ')}]` : '',
  ].filter(Boolean);
  return [
    ['Input', tensor],
    ['Normalisation', norm.join(' · ') || 'none'],
  ];
}

/** Triggers shown per model: the latest few say whether retraining runs and why it last did. */
const SHOWN_TRIGGERS = 5;

function triggerItem(trigger: RetrainingTriggerJson): HTMLElement {
  const when = new Date(trigger.created_at).toLocaleString();
  const hooks = trigger.hooks.map((hook) =>
    h(
      'li',
      { class: hook.ok ? 'hook-ok' : 'hook-failed' },
      `${hook.kind} ${hook.target}: ${hook.ok ? 'ok' : (hook.error ?? 'failed')}` +
        (hook.attempts > 1 ? ` (${hook.attempts} attempts)` : ''),
    ),
  );
  return h(
    'li',
    { class: 'trigger' },
    h(
      'div',
      { class: 'trigger-head' },
      h(
        'span',
        {
          class: `badge state-${trigger.state === 'succeeded' ? 'ready' : trigger.state === 'failed' ? 'failed' : 'loading'}`,
        },
        trigger.state,
      ),
      h('span', {}, `${when} · ${trigger.reason}`),
    ),
    h(
      'p',
      { class: 'hint' },
      trigger.dataset_version
        ? `dataset ${trigger.dataset} version ${trigger.dataset_version.slice(0, 12)}`
        : (trigger.error ?? `dataset ${trigger.dataset}`),
    ),
    hooks.length > 0 ? h('ul', { class: 'hooks' }, ...hooks) : null,
  );
}

function retrainingSection(triggers: RetrainingTriggerJson[]): HTMLElement | null {
  if (triggers.length === 0) return null;
  return h(
    'section',
    { class: 'retraining' },
    h('h3', {}, 'Retraining triggers'),
    h('ul', { class: 'triggers' }, ...triggers.slice(0, SHOWN_TRIGGERS).map(triggerItem)),
  );
}

/** What the page shows of a model beyond the model list; null where it could not be read. */
interface ModelExtras {
  triggers: RetrainingTriggerJson[];
  history: ModelHistoryJson | null;
  runs: TrainingRunJson[] | null;
}

function modelCard(model: ModelJson, isDefault: boolean, extras: ModelExtras): HTMLElement {
  const { triggers, history, runs } = extras;
  const aliases = history ? aliasesByVersion(history) : new Map<number, string[]>();
  const titleId = uniqueId('model-title');
  const facts: Array<[string, string]> = [
    ['Task', model.task ?? 'unknown'],
    ['Decoder', model.decoder ?? 'unknown'],
    ...inputSummary(model.input),
  ];
  const versions = [...model.versions].sort((a, b) => b.version - a.version);
  const labels = model.labels ?? [];
  return h(
    'article',
    { class: 'model-card', 'aria-labelledby': titleId, 'data-model': model.name },
    h(
      'header',
      { class: 'model-head' },
      h('h2', { id: titleId }, model.name),
      badge(model.state),
      isDefault ? h('span', { class: 'badge' }, 'default') : null,
    ),
    h('dl', { class: 'facts' }, ...facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
    h('h3', {}, 'Versions'),
    versions.length === 0
      ? h('p', { class: 'hint' }, 'No version was found.')
      : h(
          'ul',
          { class: 'versions' },
          ...versions.map((v) =>
            h(
              'li',
              // A training run's link to the version it produced scrolls here and focuses the row.
              { id: versionRowId(model.name, v.version), tabindex: -1 },
              h('span', { class: 'version' }, `v${v.version}`),
              badge(v.state),
              ...(aliases.get(v.version) ?? []).map((alias) =>
                h('span', { class: `badge alias alias-${alias}` }, alias),
              ),
              v.error ? problem(v.error, undefined, false) : null,
            ),
          ),
        ),
    labels.length > 0
      ? h(
          'details',
          { class: 'labels' },
          h('summary', {}, `Labels (${labels.length})`),
          h(
            'ul',
            { class: 'chips' },
            ...labels.map((label, i) => h('li', { class: 'chip', title: `class ${i}` }, label)),
          ),
        )
      : null,
    // A model that failed because its only version did is reported once, on the version.
    model.error && !model.versions.some((v) => v.error?.message === model.error?.message)
      ? problem(model.error, 'Load error', false)
      : null,
    history ? historySection(history) : null,
    runs ? trainingRunsSection(model.name, runs, new Set(versions.map((v) => v.version))) : null,
    retrainingSection(triggers),
    model.state === 'ready'
      ? h(
          'a',
          {
            class: 'button secondary',
            href: `/?model=${encodeURIComponent(model.name)}`,
            'data-route': true,
          },
          `Segment with ${model.name}`,
        )
      : null,
  );
}

export class ModelsPage {
  readonly element: HTMLElement;
  private readonly status = h('p', { class: 'models-summary', role: 'status' }, 'Loading models…');
  private readonly list = h('div', { class: 'model-grid' });

  constructor() {
    const refresh = h('button', { type: 'button', class: 'button secondary' }, 'Refresh');
    refresh.addEventListener('click', () => this.load(true));
    this.element = h(
      'div',
      { class: 'page models-page' },
      h('div', { class: 'page-head' }, h('h1', {}, 'Models'), refresh),
      this.status,
      this.list,
    );
  }

  mount(): void {
    this.load(false);
  }

  private async load(refresh: boolean): Promise<void> {
    this.status.textContent = 'Loading models…';
    try {
      const [list, retraining] = await Promise.all([
        models(refresh),
        // The triggers are extra: a failure to read them leaves the model list as it is.
        retrainingTriggers().catch(() => null),
      ]);
      // Histories and training runs likewise: a model whose history cannot be read is shown without it.
      const [histories, runs] = await Promise.all([
        Promise.all(list.models.map((m) => modelHistory(m.name).catch(() => null))),
        Promise.all(list.models.map((m) => trainingRuns(m.name, SHOWN_RUNS).catch(() => null))),
      ]);
      this.show(list, retraining?.triggers ?? [], histories, runs);
    } catch (error) {
      this.status.textContent = 'The model list could not be loaded.';
      replace(this.list, problem(error));
    }
  }

  private show(
    list: ModelListJson,
    triggers: RetrainingTriggerJson[],
    histories: Array<ModelHistoryJson | null>,
    runs: Array<TrainingRunListJson | null>,
  ): void {
    const ready = list.models.filter((m) => m.state === 'ready').length;
    const failed = list.models.filter((m) => m.state === 'failed').length;
    this.status.textContent = [
      `${list.models.length} model${list.models.length === 1 ? '' : 's'}`,
      `${ready} ready`,
      failed > 0 ? `${failed} failed` : '',
      list.default_model ? `default: ${list.default_model}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    replace(
      this.list,
      ...list.models.map((m, i) =>
        modelCard(m, m.name === list.default_model, {
          triggers: triggers.filter((t) => t.model === m.name),
          history: histories[i],
          runs: runs[i]?.runs ?? null,
        }),
      ),
    );
  }
}
