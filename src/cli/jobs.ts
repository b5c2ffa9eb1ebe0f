/**
 * `segserve jobs submit|status|wait|cancel|list`: batch jobs on a running server, through its jobs API
 * (`/v1/jobs`, src/http/routes/jobs.ts). Local files are uploaded with the job (multipart: the JSON spec in the
 * field `job`, each image a file part, streamed from disk); keys, URLs and a prefix name images the server
 * reads itself. `wait` (and `submit --wait`) follows a job with a progress bar until it ends, and exits 0 when it
 * completed, 1 when it failed or was cancelled. The API key comes from SEGSERVE_API_KEY, a webhook's secret from
 * SEGSERVE_WEBHOOK_SECRET: never flags, which end up in shell history and `ps`.
 */
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { retryAfterSeconds, SegserveError } from '../errors.js';
import type { JobInput, JobList, JobState, JobView } from '../jobs/wire-types.js';
import { describeTarget, type JobDetail } from '../jobs/wire-types.js';
import { EXIT_FAILURES, EXIT_OK } from './errors.js';
import { collectImages } from './inputs.js';
import { formatJob, formatJobList, settled } from './job-format.js';
import { type FormPart, multipartBody } from './multipart.js';
import { parseFormats } from './predict.js';
import { createProgress, type LiveProgress } from './progress.js';
import { isTransient, NoAnswer, ServerClient, serverOption, type UnexpectedAnswer } from './server-client.js';

const WEBHOOK_SECRET_ENV = 'SEGSERVE_WEBHOOK_SECRET';

const JOB_STATES: readonly JobState[] = ['running', 'cancelling', 'completed', 'failed', 'cancelled'];
const ENDED: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);

/** A poll a second: a person watching sees progress move, and the server answers it from one row. */
const POLL_MS = 1000;
/** Failed polls back off, doubling up to this, so a restarting server is not hammered. */
const MAX_BACKOFF_MS = 30_000;
/** Polls failing for this long (a server gone, not restarting) end the wait with the last error. */
const GIVE_UP_MS = 5 * 60_000;

interface SubmitOptions {
  server: string;
  model?: string;
  version?: string;
  endpoint?: string;
  output: string;
  format?: string;
  key?: string[];
  url?: string[];
  prefix?: string;
  recursive: boolean;
  webhook?: string;
  idempotencyKey?: string;
  wait: boolean;
  json: boolean;
}

/** The job as the API takes it, in JSON or in the multipart field `job`. */
function jobSpec(options: SubmitOptions): Record<string, unknown> {
  if (options.model === undefined && options.endpoint === undefined) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: 'name a --model or an --endpoint' });
  }
  const inputs: JobInput[] = [
    ...(options.key ?? []).map((key) => ({ key })),
    ...(options.url ?? []).map((url) => ({ url })),
  ];
  const secret = process.env[WEBHOOK_SECRET_ENV];
  return {
    ...(options.model === undefined ? {} : { model: options.model }),
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(inputs.length > 0 ? { inputs } : {}),
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    output: options.output,
    ...(options.format === undefined ? {} : { formats: parseFormats(options.format) }),
    ...(options.webhook === undefined
      ? {}
      : { webhook: { url: options.webhook, ...(secret ? { secret } : {}) } }),
  };
}

/** Submits the job (uploading the files named, with a progress bar); `created` is false for a repeated key. */
async function submitJob(
  client: ServerClient,
  options: SubmitOptions,
  files: string[],
): Promise<{ job: JobView; created: boolean }> {
  const spec = jobSpec(options);
  const { images } = await collectImages(files, { recursive: options.recursive });
  if (files.length > 0 && images.length === 0) {
    throw new SegserveError('INVALID_ARGUMENT', { reason: `no images in ${files.join(', ')}` });
  }
  if (images.length === 0 && spec.inputs === undefined && spec.prefix === undefined) {
    throw new SegserveError('INVALID_ARGUMENT', {
      reason: 'no inputs: give image files or folders, --key, --url or --prefix',
    });
  }
  const headers: Record<string, string> = options.idempotencyKey
    ? { 'idempotency-key': options.idempotencyKey }
    : {};
  if (images.length === 0) {
    const { status, body } = await client.send<JobView>('/v1/jobs', { json: spec, headers });
    return { job: body, created: status === 201 };
  }
  const parts: FormPart[] = [{ name: 'job', value: JSON.stringify(spec) }];
  for (const image of images) {
    parts.push({
      name: 'file',
      path: image.path,
      size: (await stat(image.path)).size,
      filename: image.relative,
      contentType: 'application/octet-stream',
    });
  }
  const progress = createProgress(images.length, 'upload');
  try {
    const { status, body } = await client.send<JobView>('/v1/jobs', {
      form: multipartBody(parts),
      headers,
      // Part 0 is the spec; a file counts once its last byte is sent.
      onProgress: (part, sent, size) => {
        if (part > 0 && sent === size) progress.tick(images[part - 1].relative);
      },
    });
    return { job: body, created: status === 201 };
  } finally {
    progress.stop();
  }
}

const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`;

/**
 * Polls the job until it ends, with a bar of its settled inputs (done and failed) and the failures so far.
 * Polls that get no answer or a 429/5xx back off and go on; any other error ends the wait at once.
 */
export async function followJob(client: ServerClient, id: string): Promise<JobDetail> {
  let progress: LiveProgress | undefined;
  let last: JobDetail | undefined;
  let failingSince: number | undefined;
  let failures = 0;
  try {
    for (;;) {
      let delay = POLL_MS;
      try {
        last = (await client.send<JobDetail>(jobPath(id))).body;
        failingSince = undefined;
        failures = 0;
        const failed = `${last.progress.failed} failed`;
        if (ENDED.has(last.state)) {
          progress?.update(settled(last), failed);
          return last;
        }
        progress ??= createProgress(
          last.progress.total,
          `job ${last.id.slice(0, 8)}`,
          undefined,
          settled(last),
        );
        progress.update(settled(last), last.state === 'cancelling' ? `${failed}, cancelling` : failed);
      } catch (error) {
        if (!isTransient(error)) throw error;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > GIVE_UP_MS) throw error;
        failures++;
        // A 429 or 503 may say how long to wait (Retry-After's estimate): never sooner than that.
        const asked = error instanceof SegserveError ? (retryAfterSeconds(error) ?? 0) * 1000 : 0;
        delay = Math.max(asked, Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** (failures - 1)));
        const why =
          error instanceof NoAnswer
            ? 'no answer'
            : error instanceof SegserveError
              ? error.code
              : `HTTP ${(error as UnexpectedAnswer).status}`;
        if (last) progress?.update(settled(last), `${why}, trying again in ${Math.round(delay / 1000)} s`);
      }
      await sleep(delay);
    }
  } finally {
    progress?.stop();
  }
}

function printJob(job: JobDetail, json: boolean): void {
  process.stdout.write(`${json ? JSON.stringify(job, null, 2) : formatJob(job)}\n`);
}

/** Follows a job to its end, prints it, and sets the exit code by how it ended. */
async function waitFor(client: ServerClient, id: string, json: boolean): Promise<void> {
  const job = await followJob(client, id);
  printJob(job, json);
  process.exitCode = job.state === 'completed' ? EXIT_OK : EXIT_FAILURES;
}

/** Repeatable options; no default, so the help shows none. Values are not split at commas, which URLs hold. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function addJobCommands(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('batch jobs on a running server (API key in $SEGSERVE_API_KEY)');
  const command = (name: string, description: string) =>
    jobs.command(name).description(description).addOption(serverOption());
  const client = (opts: { server: string }) => new ServerClient(opts.server);

  command('submit', 'submit a batch job: local image files and folders (uploaded), keys, URLs or a prefix')
    .argument('[files...]', 'image files or folders to upload with the job')
    .addOption(new Option('-m, --model <name>', 'the model').conflicts('endpoint'))
    .addOption(
      new Option('-v, --version <n|alias>', 'model version or alias (default: the served one)').conflicts(
        'endpoint',
      ),
    )
    .option('--endpoint <name>', 'an endpoint, whose traffic policy picks the variant')
    .requiredOption(
      '-o, --output <prefix>',
      "where the outputs go: a prefix of the server's store, or s3://bucket/prefix/",
    )
    .option('-f, --format <formats>', 'comma-separated: json, coco, png, overlay (default: json)')
    .option('--key <key>', "an image object of the server's store (repeatable)", collect)
    .option('--url <url>', 'an http(s) or s3:// image the server fetches (repeatable)', collect)
    .option(
      '--prefix <prefix>',
      "every image object under this prefix of the server's store, or s3://bucket/prefix/",
    )
    .option('-r, --recursive', 'descend into sub-folders of the folders given', false)
    .option(
      '--webhook <url>',
      `called when the job ends, signed with $${WEBHOOK_SECRET_ENV} (or the server's secret)`,
    )
    .option('--idempotency-key <key>', 'submitting again with the same key answers the first job')
    .option('--wait', 'follow the job until it ends (exit code as `jobs wait`)', false)
    .option('--json', 'machine-readable output', false)
    .action(async (files: string[], opts: SubmitOptions) => {
      const server = client(opts);
      const { job, created } = await submitJob(server, opts, files);
      if (opts.json && !opts.wait) {
        process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return;
      }
      const line = created
        ? `job ${job.id} submitted: ${job.progress.total} input(s), ${describeTarget(job.target)} -> ${job.output}`
        : `job ${job.id} was already submitted with this idempotency key (${job.state})`;
      // With --wait, stdout is left to the job as it ends, as `jobs wait` prints it.
      (opts.wait ? process.stderr : process.stdout).write(`${line}\n`);
      if (opts.wait) await waitFor(server, job.id, opts.json);
    });

  command('status', "a job's state, progress, output and failed inputs")
    .argument('<id>', 'the job id')
    .option('--json', 'machine-readable output', false)
    .action(async (id: string, opts: { server: string; json: boolean }) => {
      const { body } = await client(opts).send<JobDetail>(jobPath(id));
      printJob(body, opts.json);
    });

  command('wait', 'follow a job until it ends: exit 0 when it completed, 1 when it failed or was cancelled')
    .argument('<id>', 'the job id')
    .option('--json', 'machine-readable output', false)
    .action((id: string, opts: { server: string; json: boolean }) => waitFor(client(opts), id, opts.json));

  command('cancel', 'cancel a job: its pending inputs are not run, those running finish')
    .argument('<id>', 'the job id')
    .action(async (id: string, opts: { server: string }) => {
      const { body: job } = await client(opts).send<JobView>(`${jobPath(id)}/cancel`, { method: 'POST' });
      process.stdout.write(
        `job ${job.id}: ${job.state}, ${job.progress.cancelled} pending input(s) will not run\n`,
      );
    });

  command('list', 'jobs, newest first')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .option('--limit <n>', 'at most this many (1-500)', '50')
    .option('--json', 'machine-readable output', false)
    .action(async (opts: { server: string; state?: JobState; limit: string; json: boolean }) => {
      const query = new URLSearchParams({ limit: opts.limit, ...(opts.state ? { state: opts.state } : {}) });
      const { body } = await client(opts).send<JobList>(`/v1/jobs?${query}`);
      process.stdout.write(`${opts.json ? JSON.stringify(body, null, 2) : formatJobList(body.jobs)}\n`);
    });
}
