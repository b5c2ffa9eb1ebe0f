/** The models page: every model of the repository with its state, task, input, versions, labels and load errors. */

import type { LoadState, ModelJson, ModelListJson } from '../../src/serving/types.js';
import { h, replace, uniqueId } from './dom';
import { models } from './model-store';
import { problem } from './problem';

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
  const tensor = [input.name, size, resize, input.layout, input.color].filter(Boolean).join(' · ');
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

function modelCard(model: ModelJson, isDefault: boolean): HTMLElement {
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
              {},
              h('span', { class: 'version' }, `v${v.version}`),
              badge(v.state),
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
      this.show(await models(refresh));
    } catch (error) {
      this.status.textContent = 'The model list could not be loaded.';
      replace(this.list, problem(error));
    }
  }

  private show(list: ModelListJson): void {
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
    replace(this.list, ...list.models.map((m) => modelCard(m, m.name === list.default_model)));
  }
}
