/**
 * The container images without a Docker engine (none runs on these machines): the Dockerfile is read, and its
 * build is done here the way Docker would do it, from a clean clone of the committed tree:
 *
 * - the build context is the clone filtered by .dockerignore;
 * - every RUN of the build stage runs, in order, through `sh -c` with the stage's ARG defaults, in that context,
 *   so the steps tested are the Dockerfile's own (a step changed there changes what runs here);
 * - the serving stage's COPY --from=build lines lay out the image's /app, with their --chown;
 * - ENTRYPOINT + CMD start as the image's USER (numeric, non-root), as PID 1 of a new PID namespace, with only
 *   the image's environment: the server gets ready, the HEALTHCHECK command passes, and SIGTERM sent to PID 1
 *   during a slow request lets that request finish before the process exits 0;
 * - the trainer stage's COPY --from=build lines lay out the trainer image's /app, and its ENTRYPOINT runs
 *   `train unet --help` and a real training of a tiny U-Net as its USER. The trainer stage's one RUN installs
 *   Debian packages (apt-get): it is not run here, which would change this machine; the training runs where
 *   this machine has those packages installed (.ci/run installs them), and says SKIPPED where it has not.
 *
 * It needs root (to switch user and create the namespace) and the npm registry (npm ci), like .ci/run.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { settingEnvNames } from '../../src/cli/config/registry.js';
import { SQUARES_UNET_OPTIONS, squaresMaskFolder } from '../helpers/mask-folders.js';
import { PROJECT_ROOT } from '../helpers/paths.js';
import { semanticScene } from '../helpers/tiny-models.js';
import { freePort, png } from '../http/helpers.js';
import { slowBinaryModel } from '../http/slow-model.js';
import { dockerignore, type Instruction, parseDockerfile, type Stage, stageEnv } from './dockerfile.js';
import { type LoggedProcess, startLogged } from './process-log.js';

const run = promisify(execFile);

const stages = parseDockerfile(readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8'));
const stageNamed = (name: string): Stage => {
  const found = stages.find((stage) => stage.name === name);
  if (!found) throw new Error(`no stage ${name} in the Dockerfile`);
  return found;
};
const buildStage = stageNamed('build');
const trainerStage = stageNamed('trainer');
// The serving image is the last stage: what `docker build` gives without --target.
const finalStage = stages.at(-1) as Stage;
const of = (stage: Stage, keyword: string): Instruction[] =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword);
const single = (stage: Stage, keyword: string): Instruction => {
  const found = of(stage, keyword);
  if (found.length !== 1) throw new Error(`expected one ${keyword} in stage ${stage.name ?? stage.from}`);
  return found[0];
};

const inContext = dockerignore(readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8'));

/** The Debian packages the trainer stage's one RUN installs. */
const trainerPackages = (() => {
  const [install] = of(trainerStage, 'RUN').map((step) => step.text);
  const match = /apt-get install -y --no-install-recommends ((?:[a-z0-9][a-z0-9.+-]* ?)+)/.exec(
    install ?? '',
  );
  return match ? match[1].trim().split(' ') : [];
})();
/** Whether this machine has them (dpkg's "install ok installed" for each): the trainer's Python then runs here. */
const trainerPackagesHere =
  trainerPackages.length > 0 &&
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's output format, not a template.
  spawnSync('dpkg-query', ['-W', '-f', '${Status}\n', ...trainerPackages], { encoding: 'utf8' })
    .stdout?.trim()
    .split('\n')
    .filter((status) => status === 'install ok installed').length === trainerPackages.length;
if (!trainerPackagesHere) {
  console.warn(
    `SKIPPED the trainer image's training: this machine lacks ${trainerPackages.join(', ')} (apt-get install --no-install-recommends ${trainerPackages.join(' ')})`,
  );
}

const isRoot = process.getuid?.() === 0;

/** A container without SYS_ADMIN (a CI job's, by default) may not make a PID namespace. */
function pidNamespaces(): boolean {
  try {
    execFileSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const asPidOne = isRoot && pidNamespaces();
if (isRoot && !asPidOne) {
  console.warn(
    'SKIPPED "as PID 1": unshare --pid is not permitted here (a container without SYS_ADMIN); the image runs as a child process instead',
  );
}
const user = single(finalStage, 'USER').text;
const [uid, gid] = user.split(':').map(Number);
const workdir = single(finalStage, 'WORKDIR').text;

describe('Dockerfile', () => {
  it('has a build stage, a trainer stage, and the serving stage last, which runs nothing at build time', () => {
    expect(stages.map((stage) => stage.name)).toEqual(['build', 'trainer', 'serve']);
    expect(of(finalStage, 'RUN')).toEqual([]);
    expect(single(buildStage, 'COPY').text).toBe('. .');
    expect(single(buildStage, 'WORKDIR').text).toBe(workdir);
    expect(single(trainerStage, 'WORKDIR').text).toBe(workdir);
  });

  it("builds the trainer on the build stage's base, adding only Debian's PyTorch", () => {
    // The native modules of node_modules (onnxruntime-node, sharp) run on the base they were installed on.
    expect(trainerStage.from).toBe(buildStage.from);
    expect(trainerPackages).toEqual(['python3-torch', 'python3-torchvision']);
    expect(single(trainerStage, 'RUN').text).toMatch(
      /^apt-get update\s+&& apt-get install .*\s+&& rm -rf \/var\/lib\/apt\/lists\/\*$/,
    );
  });

  it('runs the trainer as the same numeric user, through the segserve CLI', () => {
    expect(single(trainerStage, 'USER').text).toBe(user);
    expect(single(trainerStage, 'ENTRYPOINT').exec).toEqual(single(finalStage, 'ENTRYPOINT').exec);
    expect(single(trainerStage, 'CMD').exec).toEqual(['train', '--help']);
    expect(of(trainerStage, 'HEALTHCHECK')).toEqual([]);
  });

  it("the build context: the project's sources and the trainer's package, without tests, caches or local builds", () => {
    for (const path of [
      'package.json',
      'src/cli/main.ts',
      'web/index.html',
      'training/segserve_train/__main__.py',
    ]) {
      expect(inContext(path), path).toBe(true);
    }
    for (const path of [
      '.git/HEAD',
      'node_modules/sharp/package.json',
      'dist/cli/main.js',
      'data/db/x',
      'models/person/config.yaml',
      'training/tests/test_unet.py',
      'training/README.md',
      'training/segserve_train/__pycache__/unet.cpython-311.pyc',
      'test/deploy/image.test.ts',
    ]) {
      expect(inContext(path), path).toBe(false);
    }
  });

  it('runs as a numeric non-root user, with exec-form ENTRYPOINT, CMD and HEALTHCHECK', () => {
    expect(user).toMatch(/^[1-9][0-9]*:[1-9][0-9]*$/);
    expect(single(finalStage, 'ENTRYPOINT').exec).toEqual(['node', 'dist/cli/main.js']);
    expect(single(finalStage, 'CMD').exec).toEqual(['serve']);
    const healthcheck = single(finalStage, 'HEALTHCHECK');
    expect(Object.keys(healthcheck.flags).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    expect(healthcheck.text).toMatch(/^CMD \[/);
  });

  it('sets only variables segserve reads in the serving and trainer images', () => {
    const known = settingEnvNames();
    for (const stage of [finalStage, trainerStage]) {
      for (const name of Object.keys(stageEnv(stage))) expect(known, name).toContain(name);
    }
  });

  it('copies from the build stage only what runs: package.json, node_modules, dist, and the two writable folders', () => {
    const copies = of(finalStage, 'COPY').map((copy) => ({
      from: copy.flags.from,
      chown: copy.flags.chown,
      text: copy.text,
    }));
    expect(copies.every((copy) => copy.from === 'build')).toBe(true);
    expect(copies.filter((copy) => copy.chown).map((copy) => copy.text)).toEqual([
      '/app/data ./data',
      '/app/models ./models',
    ]);
  });

  it('copies from the build stage what the trainer runs: the CLI, its production dependencies and training/, all root-owned', () => {
    const copies = of(trainerStage, 'COPY');
    expect(copies.every((copy) => copy.flags.from === 'build' && !copy.flags.chown)).toBe(true);
    expect(copies.map((copy) => copy.text)).toEqual([
      '/app/package.json ./package.json',
      '/app/node_modules ./node_modules',
      '/app/dist ./dist',
      '/app/training ./training',
    ]);
  });
});

/** Paths of a stage's `COPY --from=build SRC DEST`, SRC under the build's WORKDIR, DEST relative to the stage's. */
function layOut(stage: Stage, buildDir: string, imageDir: string): void {
  for (const copy of of(stage, 'COPY')) {
    const [source, destination] = copy.text.split(/\s+/);
    const from = join(buildDir, posix.relative(workdir, source));
    const to = join(imageDir, posix.normalize(destination));
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    if (copy.flags.chown) {
      const [owner, group] = copy.flags.chown.split(':').map(Number);
      chownSync(to, owner, group);
    }
  }
}

/** `docker run IMAGE ARGS...`: the stage's ENTRYPOINT with ARGS (its CMD when none), switched to its USER. */
function asUser(stage: Stage, args?: string[]): string[] {
  const entrypoint = single(stage, 'ENTRYPOINT').exec ?? [];
  const command = args ?? single(stage, 'CMD').exec ?? [];
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...entrypoint, ...command];
}

/** Only the image's environment, and a PATH to this machine's node (the image's is on its own PATH). */
const imageEnv = (stage: Stage, env: Record<string, string> = {}) => ({
  PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
  ...stageEnv(stage),
  ...env,
});

/** The image's process: ENTRYPOINT + CMD as USER, PID 1 of its own PID namespace, the image's environment only. */
function startImage(imageDir: string, env: Record<string, string>): LoggedProcess {
  const command = asUser(finalStage);
  const [program, ...args] = asPidOne ? ['unshare', '--pid', '--fork', '--kill-child', ...command] : command;
  return startLogged(program, args, { cwd: imageDir, env: imageEnv(finalStage, env) });
}

/** The host pid of the image's process: the one child of `unshare --fork` (its PID 1), else the one started. */
async function pidOne(startedPid: number): Promise<number> {
  if (!asPidOne) return startedPid;
  const children = (await readFile(`/proc/${startedPid}/task/${startedPid}/children`, 'utf8')).trim();
  return Number(children.split(' ')[0]);
}

async function waitReady(base: string, server: LoggedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    const status = await fetch(`${base}/v2/health/ready`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`not ready at ${base}:\n${server.text()}\n${JSON.stringify(server.lines.slice(-20))}`);
}

describe.skipIf(!isRoot)('the image built as the Dockerfile says, run as its USER as PID 1', () => {
  let dir: string;
  let buildDir: string;
  let imageDir: string;
  let trainerDir: string;
  const built: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segserve-image-'));
    // The image's user must reach its files through the folders above them.
    chmodSync(dir, 0o755);
    const clone = join(dir, 'clone');
    await run('git', ['clone', '--quiet', PROJECT_ROOT, clone]);
    buildDir = join(dir, 'build');
    await mkdir(buildDir);
    for (const entry of readdirSync(clone, { recursive: true, withFileTypes: true })) {
      if (entry.isDirectory()) continue;
      const path = relative(clone, join(entry.parentPath, entry.name));
      if (!inContext(path.split(sep).join('/'))) continue;
      mkdirSync(dirname(join(buildDir, path)), { recursive: true });
      cpSync(join(clone, path), join(buildDir, path), { verbatimSymlinks: true });
    }
    for (const step of of(buildStage, 'RUN')) {
      const started = performance.now();
      await run('sh', ['-c', step.text], {
        cwd: buildDir,
        // npm's cache as it is (a Docker build's cache mount gives npm its cache too): without this npm asks
        // the registry again for every package's metadata (the lockfile names versions and integrity, not
        // tarball URLs), some 700 requests. What is installed cannot differ: versions and tarball hashes come
        // from the lockfile, and a cached list without a locked version fails the step (ETARGET) rather
        // than install another. Not in the Dockerfile: there, a cache mount older than a lockfile change
        // would fail that way.
        env: { ...process.env, ...buildStage.args, npm_config_prefer_offline: 'true' },
        maxBuffer: 64 * 1024 * 1024,
      });
      built.push(step.text);
      console.log(`build step in ${((performance.now() - started) / 1000).toFixed(1)} s: ${step.text}`);
    }
    imageDir = join(dir, 'image');
    trainerDir = join(dir, 'trainer');
    for (const [stage, to] of [
      [finalStage, imageDir],
      [trainerStage, trainerDir],
    ] as const) {
      await mkdir(to);
      chmodSync(to, 0o755);
      layOut(stage, buildDir, to);
    }
  }, 900_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ran every build step of the Dockerfile, and left no dev dependency in node_modules', () => {
    expect(built).toEqual(of(buildStage, 'RUN').map((step) => step.text));
    expect(built.join('\n')).toMatch(/npm ci .*--onnxruntime-node-install=skip/);
    expect(existsSync(join(imageDir, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(imageDir, 'dist', 'web', 'index.html'))).toBe(true);
    for (const dev of ['vitest', 'typescript', '@biomejs/biome', 's3rver']) {
      expect(existsSync(join(imageDir, 'node_modules', dev)), dev).toBe(false);
    }
  });

  it('starts with no model folder content, provisions the person model, gets ready, passes HEALTHCHECK, stops on SIGTERM', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = startImage(imageDir, { PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitReady(base, server, 180_000);
      expect(server.lines.some((line) => line.msg === 'provisioned')).toBe(true);
      const healthcheck = single(finalStage, 'HEALTHCHECK').text.replace(/^.*?CMD /, '');
      const [command, ...args] = JSON.parse(healthcheck) as string[];
      const checked = await run(
        'setpriv',
        [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', command, ...args],
        {
          cwd: imageDir,
          env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, PORT: String(port) },
        },
      );
      expect(checked.stdout).toContain('/v2/health/ready: 200');
      process.kill(await pidOne(server.child.pid ?? -1), 'SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 240_000);

  it('SIGTERM to PID 1 during a slow request: the request finishes with 200, then the process exits 0', async () => {
    const slow = slowBinaryModel({ steps: 300, maxQueue: 2 });
    const folder = join(imageDir, 'models', 'slow');
    await mkdir(join(folder, '1'), { recursive: true });
    await writeFile(join(folder, '1', 'model.onnx'), slow.bytes);
    await writeFile(join(folder, 'config.yaml'), stringify(slow.config));
    await run('chown', ['-R', `${uid}:${gid}`, folder]);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = startImage(imageDir, { PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitReady(base, server, 120_000);
      const image = await png(semanticScene());
      const inFlight = fetch(`${base}/v1/models/slow/segment?mask_format=none`, {
        method: 'POST',
        body: new Uint8Array(image),
        headers: { 'x-request-id': 'in-flight-at-sigterm' },
      });
      await server.logged(
        (line) => line.request_id === 'in-flight-at-sigterm' && line.msg === 'request admitted',
      );
      process.kill(await pidOne(server.child.pid ?? -1), 'SIGTERM');
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(((await response.json()) as { model: string }).model).toBe('slow');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      const messages = server.lines.map((line) => line.msg);
      const shutdown = messages.indexOf('shutting down: refusing new requests, finishing those in flight');
      const completed = server.lines.findIndex(
        (line) => line.request_id === 'in-flight-at-sigterm' && line.msg === 'request completed',
      );
      expect(shutdown).toBeGreaterThanOrEqual(0);
      expect(completed).toBeGreaterThan(shutdown);
      await expect(fetch(`${base}/v2/health/live`)).rejects.toThrow();
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 180_000);

  it("the trainer image: its COPY lines found the CLI, the production dependencies and the trainer's package", () => {
    for (const path of [
      'package.json',
      'dist/cli/main.js',
      'node_modules/onnxruntime-node/package.json',
      'training/segserve_train/__main__.py',
    ]) {
      expect(existsSync(join(trainerDir, path)), path).toBe(true);
    }
    expect(existsSync(join(trainerDir, 'training', 'tests'))).toBe(false);
  });

  it('the trainer image: `train unet --help` as its USER', async () => {
    const [program, ...args] = asUser(trainerStage, ['train', 'unet', '--help']);
    const help = await run(program, args, { cwd: trainerDir, env: imageEnv(trainerStage) });
    expect(help.stdout).toMatch(/--data <folder>/);
    expect(help.stdout).toMatch(/--push/);
  });

  it.skipIf(!trainerPackagesHere)(
    'the trainer image: trains a tiny U-Net as its USER and checks it in onnxruntime',
    async () => {
      const work = join(dir, 'train');
      await squaresMaskFolder(join(work, 'data'));
      await run('chown', ['-R', `${uid}:${gid}`, work]);
      const out = join(work, 'out');
      const [program, ...args] = asUser(trainerStage, [
        'train',
        'unet',
        '--model',
        'squares',
        '--data',
        join(work, 'data'),
        '--out',
        out,
        ...SQUARES_UNET_OPTIONS,
        '--seed',
        '1',
      ]);
      const trained = await run(program, args, { cwd: trainerDir, env: imageEnv(trainerStage) });
      expect(trained.stdout).toContain('onnxruntime matches PyTorch');
      for (const file of ['model.onnx', 'config.yaml', 'labels.txt', 'report.json']) {
        expect(existsSync(join(out, file)), file).toBe(true);
      }
    },
    300_000,
  );
});

describe.runIf(!isRoot)('the image run as its USER', () => {
  it('SKIPPED: switching to the image user and making a PID namespace need root (CI runs as root)', () => {});
});
