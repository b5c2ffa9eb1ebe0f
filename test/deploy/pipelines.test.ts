/**
 * The CI/CD files: the GitHub Actions workflows against SchemaStore's workflow schema, cloudbuild.yaml against
 * SchemaStore's Cloud Build schema (plus what that lenient schema leaves out: unknown step keys, `waitFor`
 * naming a later or missing step, substitutions Cloud Build would refuse), and the Jenkinsfile's stages (no
 * Jenkins runs here to parse its Groovy). Across all three: the jobs run the project's own scripts, which exist;
 * the deploys go through deploy/scripts/deploy-k8s.sh (rollout, smoke test, rollback); the smoke test itself
 * passes against a real `segserve serve` and fails, saying why, against nothing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RetrainingHookSchema } from '../../src/models/retraining-config.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { freePort } from '../http/helpers.js';
import { withServe } from './routes.js';
import { draft07, errorsOf } from './schemas.js';

const run = promisify(execFile);
const WORKFLOWS = join(PROJECT_ROOT, '.github', 'workflows');
const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

interface Step {
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

const workflows = new Map(
  readdirSync(WORKFLOWS)
    .filter((name) => name.endsWith('.yml'))
    .map((name) => [name, parse(readFileSync(join(WORKFLOWS, name), 'utf8')) as Workflow]),
);
const scripts = (job: Job) => job.steps.map((step) => step.run ?? '').join('\n');

/** Paths of the repository that a pipeline's commands name: every one must exist. */
function repositoryPaths(text: string): string[] {
  return [...text.matchAll(/(?<![\w/.-])((?:deploy|\.ci)\/[\w./-]*[\w-])/g)].map((match) => match[1]);
}

describe('GitHub Actions workflows', () => {
  const validate = draft07('github-workflow.json');

  it.each([...workflows.keys()])('%s is valid against the workflow schema', (name) => {
    expect(errorsOf(validate, workflows.get(name))).toEqual([]);
  });

  it('the schema refuses a misspelt key', () => {
    const broken = structuredClone(workflows.get('ci.yml')) as unknown as {
      jobs: Record<string, Record<string, unknown>>;
    };
    broken.jobs.test.runs_on = 'ubuntu-latest';
    expect(errorsOf(validate, broken).join('\n')).toMatch(/runs_on/);
  });

  it('ci.yml: tests on every push and pull request, the image on main and tags after them', () => {
    const ci = workflows.get('ci.yml') as Workflow;
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push']);
    expect(scripts(ci.jobs.test)).toContain('bash .ci/run');
    expect(ci.jobs.image.needs).toBe('test');
    expect(ci.jobs.image.if).toMatch(/refs\/heads\/main/);
    expect(ci.jobs.image.if).toMatch(/refs\/tags\/v/);
    expect(ci.jobs.image.steps.some((step) => step.uses?.startsWith('docker/build-push-action@'))).toBe(true);
  });

  it('ci.yml: deploys tags only, after approval of the production environment, through the script that smoke-tests and rolls back', () => {
    const deploy = (workflows.get('ci.yml') as Workflow).jobs.deploy;
    expect(deploy.needs).toBe('image');
    expect(deploy.if).toMatch(/startsWith\(github\.ref, 'refs\/tags\/v'\)/);
    expect(deploy.environment).toMatchObject({ name: 'production' });
    expect(scripts(deploy)).toMatch(/deploy\/scripts\/deploy-k8s\.sh /);
  });

  it("retrain.yml: answers the retraining trigger's repository_dispatch and runs the trainer Job", () => {
    const retrain = workflows.get('retrain.yml') as Workflow;
    const hook = RetrainingHookSchema.parse({
      webhook: { url: 'https://api.github.com/repos/o/r/dispatches' },
    });
    const eventType = 'webhook' in hook ? hook.webhook.event_type : undefined;
    expect(retrain.on).toEqual({ repository_dispatch: { types: [eventType] } });
    const script = scripts(retrain.jobs.train);
    expect(script).toContain('kubectl kustomize deploy/k8s/trainer');
    // The payload reaches the shell through the environment, never pasted into the script by an expression.
    expect(script).not.toMatch(/\$\{\{/);
    // The container the job sets the image of is the trainer Job's.
    const job = parse(read('deploy/k8s/trainer/job.yaml')) as {
      spec: { template: { spec: { containers: { name: string }[] } } };
    };
    const [container] = job.spec.template.spec.containers;
    expect(script).toContain(`set image --local -f - ${container.name}=`);
    // The trainer image ci.yml pushes from main, not the serving image (it has no Python or training/).
    expect(script).toContain('ghcr.io/$GITHUB_REPOSITORY-trainer:main');
    const image = (workflows.get('ci.yml') as Workflow).jobs.image;
    const trainerBuild = image.steps.find(
      (step) => step.uses?.startsWith('docker/build-push-action@') && step.with?.target === 'trainer',
    );
    expect(trainerBuild?.with?.tags).toMatch(/trainer_tags/);
    expect(scripts(image)).toContain('$image-trainer:$version');
  });

  it.each([...workflows.keys()])('%s: names only files that exist', (name) => {
    const paths = repositoryPaths(readFileSync(join(WORKFLOWS, name), 'utf8'));
    for (const path of paths) expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
  });
});

interface BuildStep {
  id?: string;
  name: string;
  waitFor?: string[];
  args?: string[];
  [key: string]: unknown;
}
interface CloudBuild {
  steps: BuildStep[];
  substitutions?: Record<string, string>;
  images?: string[];
}

describe('cloudbuild.yaml', () => {
  const text = read('cloudbuild.yaml');
  const build = parse(text) as CloudBuild;
  const schema = JSON.parse(read('deploy/schemas/cloudbuild.json')) as {
    definitions: { BuildStep: { properties: Record<string, unknown> } };
  };

  it('is valid against the Cloud Build schema', () => {
    expect(errorsOf(draft07('cloudbuild.json'), build)).toEqual([]);
  });

  it('uses only the step fields the schema defines, and waits only for earlier steps', () => {
    const fields = Object.keys(schema.definitions.BuildStep.properties);
    const seen: string[] = [];
    for (const step of build.steps) {
      for (const key of Object.keys(step)) expect(fields, `step ${step.id}: ${key}`).toContain(key);
      for (const id of step.waitFor ?? []) expect(seen, `step ${step.id} waits for ${id}`).toContain(id);
      if (step.id) seen.push(step.id);
    }
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('uses only substitutions Cloud Build knows or the file declares', () => {
    const builtIn = [
      'PROJECT_ID',
      'PROJECT_NUMBER',
      'LOCATION',
      'BUILD_ID',
      'COMMIT_SHA',
      'SHORT_SHA',
      'REVISION_ID',
    ];
    const declared = Object.keys(build.substitutions ?? {});
    // `$$` is a literal dollar for the shell.
    const used = [...text.replaceAll('$$', '').matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map(
      (match) => match[1],
    );
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect([...builtIn, ...declared], name).toContain(name);
    for (const name of declared) expect(used, `${name} is used`).toContain(name);
  });

  it('tests, builds and pushes the images it lists, then deploys to Cloud Run and GKE with smoke tests and rollback', () => {
    const ids = build.steps.map((step) => step.id);
    expect(ids).toEqual(['test', 'image', 'push', 'cloud-run', 'gke', 'trainer-image']);
    expect(build.steps[0].args?.join(' ')).toContain('bash .ci/run');
    const image = build.steps[1].args?.at(-2);
    // The trainer image: the Dockerfile's trainer target, pushed by `images` with the serving image.
    const trainer = build.steps[5].args ?? [];
    expect(trainer.slice(0, 3)).toEqual(['build', '--target', 'trainer']);
    expect(trainer.at(-2)).toBe(image?.replace('/segserve:', '/segserve-trainer:'));
    expect(build.images).toEqual([image, trainer.at(-2)]);
    expect(build.steps[2].args).toEqual(['push', image]);
    const cloudRun = build.steps[3].args?.join('\n') ?? '';
    expect(cloudRun).toContain('deploy/scripts/smoke-test.sh');
    expect(cloudRun).toContain('update-traffic');
    expect(build.steps[4].args?.join('\n')).toContain('deploy/scripts/deploy-k8s.sh');
    // The image line the Cloud Run step rewrites is the one the service file has.
    const [, pattern] = /sed "s\|([^|]+)\|/.exec(cloudRun) ?? [];
    expect(read('deploy/cloudrun/service.yaml')).toContain(pattern);
    for (const path of repositoryPaths(text)) expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
  });
});

describe('Jenkinsfile', () => {
  const text = read('Jenkinsfile');
  it('tests, builds, asks for approval, then deploys through the same script', () => {
    const stages = [...text.matchAll(/stage\('([^']+)'\)/g)].map((match) => match[1]);
    expect(stages).toEqual(['Test', 'Image', 'Approve', 'Deploy']);
    const approve = text.slice(text.indexOf("stage('Approve')"), text.indexOf("stage('Deploy')"));
    expect(approve).toMatch(/input message:/);
    expect(text).toContain("sh 'bash .ci/run'");
    expect(text).toMatch(/deploy\/scripts\/deploy-k8s\.sh /);
    expect(text).toMatch(/docker build --target trainer -t "\$TRAINER_IMAGE:\$RELEASE"/);
    expect(text).toContain('docker push "$TRAINER_IMAGE:$RELEASE"');
    for (const path of repositoryPaths(text)) expect(existsSync(join(PROJECT_ROOT, path)), path).toBe(true);
    // Balanced braces: the cheapest check of a file no Groovy parser reads here.
    expect(text.split('{').length).toBe(text.split('}').length);
  });
});

describe('deploy scripts', () => {
  it.each(['deploy/scripts/smoke-test.sh', 'deploy/scripts/deploy-k8s.sh'])('%s parses (bash -n)', (path) => {
    execFileSync('bash', ['-n', join(PROJECT_ROOT, path)]);
  });

  it('the smoke test passes against a real segserve serve', async () => {
    const output = await withServe((base) =>
      run('bash', [join(PROJECT_ROOT, 'deploy/scripts/smoke-test.sh'), base]),
    );
    expect(output.stdout).toMatch(/is ready, lists its models and segments an image/);
  }, 120_000);

  it('the smoke test fails, saying which check, when nothing answers', async () => {
    const base = `http://127.0.0.1:${await freePort()}`;
    const failed = await run('bash', [join(PROJECT_ROOT, 'deploy/scripts/smoke-test.sh'), base, '1']).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/v2\/health\/ready answered 000 after 1 tries/);
  });
});
