/**
 * The monitor page's running jobs: one row per job still running (`GET /v1/jobs?state=running`), with a bar of
 * its inputs done and failed out of the total, its target and how long it has run. Redrawn on each poll of the
 * page; a failed read shows the API's error here without taking the rest of the page down.
 */
import { describeTarget, type JobList, type JobView } from '../../src/jobs/wire-types.js';
import { h, replace } from './dom';
import { duration } from './format';
import { problem } from './problem';

/** More running jobs than this are summed up rather than listed: the page is for a glance. */
export const RUNNING_JOBS_SHOWN = 20;

/** A share of the bar's width; widths set through the CSSOM, which the page's CSP (no inline styles) allows. */
function segment(kind: 'done' | 'failed', count: number, total: number): HTMLElement {
  const element = h('span', { class: `job-bar-${kind}` });
  element.style.width = `${total > 0 ? (count / total) * 100 : 0}%`;
  return element;
}

function jobRow(job: JobView): HTMLElement {
  const { total, done, failed } = job.progress;
  const settled = done + failed;
  const counts = `${done} done · ${failed} failed · ${total - settled} to go of ${total}`;
  return h(
    'li',
    { class: 'job-row', 'data-job': job.id },
    h(
      'div',
      { class: 'job-head' },
      h('span', { class: 'job-target' }, describeTarget(job.target)),
      h('code', { class: 'job-id', title: job.id }, job.id.slice(0, 8)),
      h('span', { class: 'job-elapsed' }, `running ${duration(job.elapsed_s)}`),
    ),
    h(
      'div',
      {
        class: 'job-bar',
        role: 'progressbar',
        'aria-label': `Job ${job.id}`,
        'aria-valuemin': 0,
        'aria-valuemax': total,
        'aria-valuenow': settled,
        'aria-valuetext': counts,
      },
      segment('done', done, total),
      segment('failed', failed, total),
    ),
    h(
      'p',
      { class: 'job-counts' },
      h('span', {}, counts),
      h('span', { class: 'job-output' }, `→ ${job.output}`),
    ),
  );
}

export class JobsSection {
  readonly element: HTMLElement;
  readonly #count = h('span', { class: 'badge' }, '–');
  readonly #body = h('div', { class: 'job-list-body' });

  constructor() {
    this.element = h(
      'section',
      { class: 'monitor-card jobs-card', 'aria-label': 'Running jobs' },
      h('header', { class: 'monitor-card-head' }, h('h2', {}, 'Running jobs'), this.#count),
      this.#body,
    );
  }

  show(list: JobList): void {
    const { jobs } = list;
    this.#count.textContent = jobs.length < RUNNING_JOBS_SHOWN ? String(jobs.length) : `${jobs.length}+`;
    if (jobs.length === 0) {
      replace(this.#body, h('p', { class: 'empty-state' }, 'No job is running.'));
      return;
    }
    replace(
      this.#body,
      h('ul', { class: 'job-list' }, ...jobs.map(jobRow)),
      jobs.length < RUNNING_JOBS_SHOWN
        ? null
        : h('p', { class: 'job-more' }, `The ${RUNNING_JOBS_SHOWN} newest are shown.`),
    );
  }

  /** The last list stays: the error says it is not current. */
  fail(error: unknown): void {
    this.#count.textContent = '?';
    const stale = this.#body.querySelector('.problem');
    stale?.remove();
    this.#body.prepend(problem(error, 'The running jobs could not be loaded.', false));
  }
}
