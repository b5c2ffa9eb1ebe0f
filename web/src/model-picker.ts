/**
 * Model and version choice for the segment page. Models that are not ready stay listed but disabled, with their
 * state, so a missing model reads as "failed", not as absent. "Newest ready" sends requests to the model's own
 * route, which the server resolves to its newest ready version.
 */

import type { ModelJson, ModelListJson } from '../../src/serving/types.js';
import { h, uniqueId } from './dom';

export interface Choice {
  model: string;
  /** undefined: the newest ready version. */
  version: number | undefined;
}

export class ModelPicker {
  readonly element: HTMLElement;
  private readonly modelSelect: HTMLSelectElement;
  private readonly versionSelect: HTMLSelectElement;
  private list: ModelJson[] = [];

  constructor(onChange: (choice: Choice) => void) {
    const modelId = uniqueId('model');
    const versionId = uniqueId('version');
    this.modelSelect = h(
      'select',
      { id: modelId, disabled: true },
      h('option', { value: '' }, 'Loading models…'),
    );
    this.versionSelect = h('select', { id: versionId, disabled: true });
    this.modelSelect.addEventListener('change', () => {
      this.fillVersions(undefined);
      onChange(this.choice());
    });
    this.versionSelect.addEventListener('change', () => onChange(this.choice()));
    this.element = h(
      'div',
      { class: 'picker' },
      h('div', { class: 'field' }, h('label', { for: modelId }, 'Model'), this.modelSelect),
      h('div', { class: 'field' }, h('label', { for: versionId }, 'Version'), this.versionSelect),
    );
  }

  /** Fills the lists; `wanted` (from the page address) wins over the server's default when it is ready. */
  setModels(models: ModelListJson, wanted: Partial<Choice>): void {
    this.list = models.models;
    const ready = this.list.filter((m) => m.state === 'ready');
    const pick =
      ready.find((m) => m.name === wanted.model) ??
      ready.find((m) => m.name === models.default_model) ??
      ready[0];
    this.modelSelect.replaceChildren(
      ...this.list.map((m) =>
        h(
          'option',
          { value: m.name, disabled: m.state !== 'ready', selected: m === pick },
          m.state === 'ready' ? `${m.name} (${m.task ?? 'unknown task'})` : `${m.name} (${m.state})`,
        ),
      ),
    );
    if (!pick)
      this.modelSelect.append(
        h('option', { value: '', selected: true, disabled: true }, 'No model is ready'),
      );
    this.modelSelect.disabled = ready.length === 0;
    this.fillVersions(wanted.model === pick?.name ? wanted.version : undefined);
  }

  choice(): Choice {
    const version = this.versionSelect.value === '' ? undefined : Number(this.versionSelect.value);
    return { model: this.modelSelect.value, version };
  }

  private fillVersions(wanted: number | undefined): void {
    const model = this.list.find((m) => m.name === this.modelSelect.value);
    const versions = [...(model?.versions ?? [])].sort((a, b) => b.version - a.version);
    const usable = versions.some((v) => v.state === 'ready' && v.version === wanted) ? wanted : undefined;
    this.versionSelect.replaceChildren(
      h('option', { value: '', selected: usable === undefined }, 'Newest ready'),
      ...versions.map((v) =>
        h(
          'option',
          { value: v.version, disabled: v.state !== 'ready', selected: v.version === usable },
          v.state === 'ready' ? `v${v.version}` : `v${v.version} (${v.state})`,
        ),
      ),
    );
    this.versionSelect.disabled = !model;
  }
}
