/** The read-only parts of a result: timings per stage, uncertainty, and the details of one instance or class. */
import {
  type InstanceJson,
  type SegmentationJson,
  STAGES,
  type StageTimings,
} from '../../src/serving/types.js';
import { h } from './dom';
import * as fmt from './format';

const STAGE_NAMES: Record<keyof StageTimings, string> = {
  decode: 'Decode',
  gate: 'Gate',
  preprocess: 'Preprocess',
  queue: 'Queue',
  infer: 'Inference',
  postprocess: 'Postprocess',
  encode: 'Encode',
  total: 'Total',
};

export function section(title: string, ...content: Array<Node | string>): HTMLElement {
  return h('section', { class: 'panel' }, h('h3', {}, title), ...content);
}

/** One row per stage with a bar of its share of the total, so the slow stage shows at a glance. */
export function timingsPanel(timings: StageTimings): HTMLElement {
  const total = timings.total > 0 ? timings.total : 1;
  // The gate stage is listed for gated models only.
  const rows = STAGES.flatMap((stage) => {
    const ms = timings[stage];
    if (ms === undefined) return [];
    const bar = h('span', { class: 'bar' });
    bar.style.setProperty('--share', String(Math.min(1, ms / total)));
    return [
      h(
        'tr',
        { class: stage === 'total' ? 'total' : undefined },
        h('th', { scope: 'row' }, STAGE_NAMES[stage]),
        h('td', { class: 'bar-cell' }, stage === 'total' ? '' : bar),
        h('td', { class: 'num' }, fmt.milliseconds(ms)),
      ),
    ];
  });
  return section(
    'Timings',
    h(
      'table',
      { class: 'timings' },
      h('caption', { class: 'visually-hidden' }, 'Time per stage'),
      h('tbody', {}, ...rows),
    ),
  );
}

function definitions(entries: Array<[string, string]>): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    ...entries.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
  );
}

export function uncertaintyPanel(answer: SegmentationJson): HTMLElement {
  const u = answer.uncertainty;
  if (u.kind === 'pixel-entropy') {
    return section(
      'Uncertainty',
      definitions([
        ['Mean pixel entropy', u.meanEntropy.toFixed(3)],
        ['Max pixel entropy', u.maxEntropy.toFixed(3)],
        ['Doubtful pixels', fmt.percent(u.uncertainShare)],
      ]),
      h('p', { class: 'hint' }, 'Entropy is 0 when the model is sure, 1 when every class is equally likely.'),
    );
  }
  if (u.kind === 'class-scores') {
    return section(
      'Uncertainty',
      definitions([
        ['Entropy', u.entropy.toFixed(3)],
        ['Best score', fmt.score(u.topScore)],
        ['Margin', fmt.score(u.margin)],
      ]),
      h(
        'p',
        { class: 'hint' },
        'Entropy of the class scores: 0 when the model is sure, 1 when every class is equally likely. Margin: best score minus the second best.',
      ),
    );
  }
  const entries: Array<[string, string]> = [['Instances', String(u.count)]];
  if (u.count > 0) {
    entries.push(
      ['Mean score', fmt.score(u.meanScore)],
      ['Lowest score', fmt.score(u.minScore)],
      ['Mean margin', fmt.score(u.meanMargin)],
      ['Smallest margin', fmt.score(u.minMargin)],
      ['Near the threshold', fmt.percent(u.nearThresholdShare)],
    );
  }
  return section(
    'Uncertainty',
    definitions(entries),
    h('p', { class: 'hint' }, 'Margin: best class score minus the second best; small margins are doubtful.'),
  );
}

export function instanceDetails(inst: InstanceJson, colorSwatch: HTMLElement): HTMLElement {
  return h(
    'div',
    {},
    h('p', { class: 'details-title' }, colorSwatch, inst.label),
    definitions([
      ['Score', fmt.score(inst.score)],
      ['Margin', fmt.score(inst.margin)],
      ['Area', fmt.pixels(inst.area)],
      ['Box', fmt.box(inst.box)],
      ['Class id', String(inst.class_id)],
    ]),
  );
}

export function classDetails(
  label: string,
  classId: number,
  area: number,
  imageArea: number,
  colorSwatch: HTMLElement,
): HTMLElement {
  return h(
    'div',
    {},
    h('p', { class: 'details-title' }, colorSwatch, label),
    definitions([
      ['Area', fmt.pixels(area)],
      ['Share of the image', fmt.percent(area / imageArea)],
      ['Class id', String(classId)],
    ]),
  );
}
