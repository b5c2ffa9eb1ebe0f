/**
 * The shadow page (`/shadow`): how each endpoint's shadow variants agree with what it served. Per shadow
 * variant, the requests compared, dropped and failed, the mean agreement and latency difference, the
 * distribution of agreement (20 bins, the alert's 0.8 marked), and the requests that disagree most with the
 * served and the shadow masks over the image side by side. Reads `GET /v1/shadows` (the endpoints) and
 * `GET /v1/endpoints/{name}/shadows`, when shown and on Refresh: the kept comparisons change only when a worse
 * one arrives, so polling would mostly reload the same images.
 */

import { colorForIndex } from '../../src/masks/palette.js';
import type {
  EndpointShadowsJson,
  ShadowComparisonJson,
  ShadowVariantJson,
} from '../../src/monitoring/shadow/wire-types.js';
import { endpointShadows, shadowList } from './api';
import { h, replace, svg, swatch } from './dom';
import { percent } from './format';
import { problem } from './problem';

/** The SegserveShadowDisagreement alert's threshold (deploy/prometheus/rules/segserve.rules.yml). */
const LOW_AGREEMENT = 0.8;
/** Instances without a match are painted this colour by the server (src/monitoring/shadow/comparison-png.ts). */
const UNMATCHED = 'rgb(230 25 25)';

const figure = (value: number | null, digits = 2) => (value === null ? '–' : value.toFixed(digits));
const ms = (value: number | null) => (value === null ? '–' : `${value.toFixed(value < 10 ? 1 : 0)} ms`);
/** A difference in whole ms with its sign; a difference that rounds to 0 has none (not "−0 ms"). */
function signedMs(value: number | null): string {
  if (value === null) return '–';
  const rounded = Math.round(value);
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded)} ms`;
}

function stat(label: string, value: string, state?: string): HTMLElement {
  return h('div', { class: 'stat', 'data-state': state }, h('dt', {}, label), h('dd', {}, value));
}

/** The agreement distribution: one bar per bin, bins under the alert's threshold in the "bad" colour. */
function histogram(variant: ShadowVariantJson): Element {
  const { edges, counts } = variant.agreement.histogram;
  const width = 480;
  const height = 150;
  const left = 34;
  const bottom = 22;
  const top = 8;
  const plotWidth = width - left - 6;
  const plotHeight = height - top - bottom;
  const highest = Math.max(1, ...counts);
  const chart = svg('svg', {
    class: 'agreement-chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Agreement of ${variant.requests.compared} compared requests, in ${counts.length} bins from 0 to 1`,
  });
  const bar = plotWidth / counts.length;
  // Grid: the highest count, half of it, and 0.
  for (const value of [0, Math.round(highest / 2), highest]) {
    const y = top + plotHeight - (value / highest) * plotHeight;
    chart.append(
      svg('line', { x1: left, x2: width - 6, y1: y, y2: y, class: 'chart-grid-line' }),
      svg('text', { x: left - 6, y: y + 4, class: 'chart-label', 'text-anchor': 'end' }, String(value)),
    );
  }
  counts.forEach((count, i) => {
    const barHeight = (count / highest) * plotHeight;
    const low = edges[i + 1] <= LOW_AGREEMENT;
    const rect = svg('rect', {
      x: left + i * bar + 1,
      y: top + plotHeight - barHeight,
      width: Math.max(1, bar - 2),
      height: barHeight,
      class: low ? 'agreement-bar agreement-bar-low' : 'agreement-bar',
      'data-count': count,
    });
    rect.append(svg('title', {}, `${edges[i].toFixed(2)}–${edges[i + 1].toFixed(2)}: ${count}`));
    chart.append(rect);
  });
  const threshold = left + LOW_AGREEMENT * plotWidth;
  chart.append(
    svg('line', {
      x1: threshold,
      x2: threshold,
      y1: top,
      y2: top + plotHeight,
      class: 'agreement-threshold',
    }),
  );
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(
      svg(
        'text',
        { x: left + tick * plotWidth, y: height - 6, class: 'chart-label', 'text-anchor': 'middle' },
        String(tick),
      ),
    );
  }
  return h(
    'figure',
    { class: 'agreement-figure' },
    chart,
    h(
      'figcaption',
      { class: 'agreement-caption' },
      `Agreement per compared request (0 to 1); the line marks ${LOW_AGREEMENT}, under which the alert fires.`,
    ),
  );
}

/** The image with one side's masks laid over it. */
function maskView(comparison: ShadowComparisonJson, side: 'served' | 'shadow', caption: string): HTMLElement {
  const small = Math.max(comparison.image.width, comparison.image.height) < 256;
  return h(
    'figure',
    { class: `mask-view${small ? ' mask-view-small' : ''}`, 'data-side': side },
    h(
      'div',
      { class: 'mask-stack' },
      h('img', {
        src: comparison.links.image,
        alt: '',
        width: comparison.image.width,
        height: comparison.image.height,
      }),
      h('img', {
        class: 'mask-layer',
        src: comparison.links[side],
        alt: `${caption}: masks over the image`,
        width: comparison.image.width,
        height: comparison.image.height,
      }),
    ),
    h('figcaption', { class: 'mask-caption' }, caption),
  );
}

function detailText(comparison: ShadowComparisonJson): HTMLElement {
  const { detail } = comparison;
  if (detail.kind === 'instances') {
    const unmatched = [
      detail.unmatched_served.length > 0 ? `only served: ${detail.unmatched_served.join(', ')}` : '',
      detail.unmatched_shadow.length > 0 ? `only shadow: ${detail.unmatched_shadow.join(', ')}` : '',
    ].filter((s) => s !== '');
    const flips = detail.matches.filter((m) => m.served !== m.shadow).map((m) => `${m.served} → ${m.shadow}`);
    return h(
      'p',
      { class: 'comparison-detail' },
      `${detail.served_count} served, ${detail.shadow_count} shadow, ${detail.matched} matched` +
        (detail.mean_matched_iou === null ? '' : ` (mean IoU ${detail.mean_matched_iou.toFixed(2)})`) +
        (flips.length > 0 ? `; class changed: ${flips.join(', ')}` : '') +
        (unmatched.length > 0 ? `; ${unmatched.join('; ')}` : ''),
    );
  }
  return h(
    'ul',
    { class: 'class-legend' },
    ...detail.classes
      .filter((c) => !c.background)
      .map((c) => {
        const [r, g, b] = colorForIndex(c.class_id);
        return h('li', {}, swatch(`rgb(${r} ${g} ${b})`), `${c.label}: IoU ${c.iou.toFixed(2)}`);
      }),
  );
}

function comparisonView(variant: ShadowVariantJson, comparison: ShadowComparisonJson): HTMLElement {
  const { served } = comparison;
  const when = new Date(comparison.at).toLocaleTimeString();
  return h(
    'article',
    { class: 'shadow-comparison', 'data-comparison': comparison.id },
    h(
      'header',
      { class: 'comparison-head' },
      h(
        'span',
        {
          class: 'comparison-agreement',
          'data-state': comparison.agreement < LOW_AGREEMENT ? 'bad' : 'ok',
        },
        comparison.agreement.toFixed(2),
      ),
      h(
        'span',
        { class: 'comparison-meta' },
        `${when} · ${comparison.image.width} × ${comparison.image.height}` +
          (comparison.request_id ? ` · request ${comparison.request_id}` : '') +
          ` · ${ms(comparison.latency_ms.served)} served, ${ms(comparison.latency_ms.shadow)} shadow`,
      ),
    ),
    detailText(comparison),
    h(
      'div',
      { class: 'mask-pair' },
      maskView(comparison, 'served', `Served: ${served.model} v${served.version} (${served.variant})`),
      maskView(comparison, 'shadow', `Shadow: ${variant.variant} (${variant.model} v${variant.version})`),
    ),
  );
}

function variantCard(variant: ShadowVariantJson): HTMLElement {
  const { requests, dropped_by_reason: drops, agreement, latency_ms: latency } = variant;
  const sampled = requests.compared + requests.dropped + requests.failed;
  const stats = [
    stat('Compared', String(requests.compared)),
    stat(
      'Dropped',
      requests.dropped === 0
        ? '0'
        : `${requests.dropped} (${[
            drops.queue_full ? `${drops.queue_full} queue full` : '',
            drops.busy ? `${drops.busy} busy` : '',
            drops.not_comparable ? `${drops.not_comparable} not comparable` : '',
          ]
            .filter((s) => s !== '')
            .join(', ')})`,
      requests.dropped > 0 ? 'warn' : undefined,
    ),
    stat('Failed', String(requests.failed), requests.failed > 0 ? 'bad' : undefined),
    stat('Not sampled', String(requests.not_sampled)),
    stat(
      'Mean agreement',
      figure(agreement.mean),
      agreement.mean === null ? undefined : agreement.mean < LOW_AGREEMENT ? 'bad' : 'ok',
    ),
    stat('Lowest', figure(agreement.min)),
    stat(
      'Latency',
      `${ms(latency.served)} served, ${ms(latency.shadow)} shadow (${signedMs(latency.difference)})`,
    ),
  ];
  if (variant.instances) {
    const {
      mean_matched_iou: iou,
      class_agreement: classes,
      mean_count_difference: counts,
    } = variant.instances;
    stats.push(
      stat('Matched-instance IoU', figure(iou)),
      stat('Same class', classes === null ? '–' : percent(classes)),
      stat('Count difference', `${counts > 0 ? '+' : ''}${counts.toFixed(2)} per request`),
    );
  }
  const legend =
    variant.task === 'instance'
      ? h(
          'p',
          { class: 'mask-legend' },
          'A matched pair has the same colour on both sides; ',
          swatch(UNMATCHED),
          ' red: no match on the other side.',
        )
      : null;
  return h(
    'section',
    {
      class: 'monitor-card shadow-card',
      'data-variant': variant.variant,
      'aria-label': `Shadow ${variant.variant}`,
    },
    h(
      'div',
      { class: 'monitor-card-head' },
      h('h2', {}, variant.variant),
      h(
        'span',
        { class: 'monitor-badges' },
        h('span', { class: 'badge' }, `${variant.model} v${variant.version}`),
        h('span', { class: 'badge' }, `${percent(variant.sample_rate)} sampled`),
        variant.task ? h('span', { class: 'badge' }, variant.task) : null,
      ),
    ),
    h('dl', { class: 'monitor-stats' }, ...stats),
    requests.compared > 0
      ? histogram(variant)
      : h(
          'p',
          { class: 'empty-state' },
          sampled === 0
            ? 'No request sampled yet.'
            : 'No request compared yet: see dropped and failed above.',
        ),
    variant.disagreements.length > 0
      ? h(
          'div',
          { class: 'shadow-disagreements' },
          h('h3', {}, 'Requests that disagree most'),
          legend,
          ...variant.disagreements.map((c) => comparisonView(variant, c)),
        )
      : null,
  );
}

export class ShadowPage {
  readonly element: HTMLElement;
  readonly #select = h('select', { id: 'shadow-endpoint', 'aria-label': 'Endpoint' });
  readonly #refresh = h('button', { type: 'button', class: 'button secondary' }, 'Refresh');
  readonly #status = h('p', { class: 'monitor-status' }, 'Loading…');
  readonly #problem = h('div');
  readonly #empty = h(
    'p',
    { class: 'empty-state', hidden: true },
    'No endpoint has shadow variants yet. Give an endpoint’s traffic policy a shadow variant ' +
      '(PUT /v1/admin/endpoints/{name}/traffic) and a sample of its requests is copied to it after each answer.',
  );
  readonly #cards = h('div', { class: 'monitor-cards' });
  #endpoint: string | null = new URLSearchParams(location.search).get('endpoint');
  #request: AbortController | undefined;

  constructor() {
    this.#select.addEventListener('change', () => {
      this.#endpoint = this.#select.value;
      const url = new URL(location.href);
      url.searchParams.set('endpoint', this.#endpoint);
      history.replaceState(null, '', url.pathname + url.search);
      void this.#load();
    });
    this.#refresh.addEventListener('click', () => void this.#load());
    this.element = h(
      'div',
      { class: 'page shadow-page' },
      h(
        'div',
        { class: 'page-head' },
        h('h1', {}, 'Shadow traffic'),
        h('div', { class: 'shadow-controls' }, this.#select, this.#refresh),
      ),
      this.#status,
      this.#problem,
      this.#empty,
      this.#cards,
    );
  }

  mount(): void {
    void this.#load();
  }

  unmount(): void {
    this.#request?.abort();
  }

  async #load(): Promise<void> {
    this.#request?.abort();
    const request = new AbortController();
    this.#request = request;
    this.#refresh.disabled = true;
    try {
      const { endpoints } = await shadowList(request.signal);
      const names = endpoints.map((e) => e.endpoint);
      if (this.#endpoint !== null && !names.includes(this.#endpoint)) names.push(this.#endpoint);
      names.sort();
      this.#endpoint ??= names[0] ?? null;
      replace(
        this.#select,
        ...names.map((name) => h('option', { value: name, selected: name === this.#endpoint }, name)),
      );
      this.#select.hidden = names.length === 0;
      let shown: EndpointShadowsJson | undefined = endpoints.find((e) => e.endpoint === this.#endpoint);
      if (!shown && this.#endpoint !== null) shown = await endpointShadows(this.#endpoint, request.signal);
      replace(this.#problem);
      this.#render(shown);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') return;
      replace(this.#problem, problem(error, 'The shadow figures could not be read.'));
      this.#status.textContent = '';
    } finally {
      if (this.#request === request) this.#refresh.disabled = false;
    }
  }

  #render(shown: EndpointShadowsJson | undefined): void {
    const variants = shown?.variants ?? [];
    this.#empty.hidden = variants.length > 0;
    this.#status.textContent = shown
      ? `Endpoint ${shown.endpoint}: ${variants.length} shadow variant${variants.length === 1 ? '' : 's'}, ` +
        `figures since the server started (read ${new Date().toLocaleTimeString()}).`
      : '';
    replace(this.#cards, ...variants.map((variant) => variantCard(variant)));
  }
}
