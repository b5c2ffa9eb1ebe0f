/** How `segserve jobs status|wait|list` print a job: the same words and numbers in every command. */
import { describeInput, describeTarget, type JobDetail, type JobView } from '../jobs/wire-types.js';
import { formatTable } from './table.js';

/** `42 s`, `3m 05s`, `2h 10m`: as precise as a person reading a job's age needs. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** Inputs settled either way out of the total: what a progress bar of the job shows. */
export function settled(job: JobView): number {
  return job.progress.done + job.progress.failed;
}

function describeProgress(job: JobView): string {
  const { total, done, failed, cancelled } = job.progress;
  const parts = [`${done} done`, `${failed} failed`];
  if (cancelled > 0) parts.push(`${cancelled} cancelled`);
  return `${parts.join(', ')} of ${total} (${Math.floor(((done + failed) / total) * 100)}%)`;
}

export function formatJob(job: JobDetail): string {
  const lines = [
    `job:       ${job.id}`,
    `state:     ${job.state}`,
    `target:    ${describeTarget(job.target)}`,
    `progress:  ${describeProgress(job)}`,
    `output:    ${job.output} (${job.formats.join(', ')})`,
    `created:   ${job.created_at}${job.finished_at ? `, finished ${job.finished_at}` : ''} (${formatSeconds(job.elapsed_s)})`,
  ];
  if (job.manifest_key) lines.push(`manifest:  ${job.manifest_key}`);
  if (job.coco_results_key) lines.push(`coco:      ${job.coco_results_key}`);
  const hook = job.webhook;
  if (hook) {
    const error = hook.last_error ? `: ${hook.last_error}` : '';
    lines.push(`webhook:   ${hook.url} ${hook.state} after ${hook.attempts} attempt(s)${error}`);
  }
  if (job.errors.length > 0) {
    lines.push(
      `failed inputs${job.progress.failed > job.errors.length ? ` (first ${job.errors.length})` : ''}:`,
    );
    for (const input of job.errors) {
      const error = input.error ? `${input.error.code}: ${input.error.message}` : 'failed';
      lines.push(`  #${input.index} ${describeInput(input.input)}: ${error}`);
    }
  }
  return lines.join('\n');
}

export function formatJobList(jobs: readonly JobView[]): string {
  if (jobs.length === 0) return 'no jobs';
  const rows = jobs.map((job) => [
    job.id,
    job.state,
    describeTarget(job.target),
    `${settled(job)}/${job.progress.total}`,
    String(job.progress.failed),
    formatSeconds(job.elapsed_s),
    job.created_at,
    job.output,
  ]);
  return formatTable(['ID', 'STATE', 'TARGET', 'DONE', 'FAILED', 'ELAPSED', 'CREATED', 'OUTPUT'], rows);
}
