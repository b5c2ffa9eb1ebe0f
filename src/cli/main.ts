#!/usr/bin/env node
/** The `segserve` command line. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SegserveError } from '../errors.js';
import { AdminKeys, hashAdminKey } from '../http/admin-auth.js';
import { ModelRepository } from '../models/index.js';
import { importTflite } from '../models/tflite/index.js';
import { InferenceService } from '../serving/service.js';
import { settingOption } from './config/registry.js';
import { addDatasetCommands } from './datasets.js';
import { describeFailure, EXIT_FAILURES } from './errors.js';
import { addEvalCommand } from './eval.js';
import { addJobCommands } from './jobs.js';
import { formatModelDetails, formatModelList } from './models.js';
import { formatBaselineSummary, monitorBaseline } from './monitor.js';
import { openModel } from './open-model.js';
import { addOptimizeCommand } from './optimize.js';
import { formatSummary, parseFormats, predict } from './predict.js';
import { formatPushOutcome, pushVersion } from './push.js';
import { addServeCommand } from './serve.js';
import { serverOption } from './server-client.js';
import { addTrainCommands } from './train.js';
import { addWorkerCommand } from './worker.js';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** package.json sits two folders up from both src/cli/main.ts and dist/cli/main.js. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? 'unknown';
}

const program = new Command()
  .name('segserve')
  .description('Serve and run ONNX image-segmentation models.')
  .version(packageVersion(), '-V, --version', 'print the segserve version')
  // Program options only before the command name, so `predict --version 2` stays predict's model version.
  .enablePositionalOptions()
  // Throw instead of exiting, so usage errors get exit code 2 like every other setup error (errors.ts).
  // Set before the commands are added: they inherit it.
  .exitOverride()
  .showHelpAfterError();

// Read from SEGSERVE_MODELS when the options are parsed, after a config file has filled the environment.
const modelsOption = () =>
  settingOption('models', 'serve', '<dir>').default(resolve('models'), '$SEGSERVE_MODELS, else ./models');

program
  .command('predict')
  .description('segment image files and folders, writing JSON, COCO results, mask PNGs or overlays')
  .argument('<inputs...>', 'image files or folders')
  .requiredOption(
    '-m, --model <name|path>',
    'model name in the repository, or a model folder with config.yaml',
  )
  .addOption(modelsOption())
  .option('-v, --version <n>', 'model version (default: the latest loaded)', positiveInteger)
  .requiredOption('-o, --out <dir>', 'output folder')
  .option('-f, --format <formats>', `comma-separated: json, coco, png, overlay`, 'json')
  .option('-r, --recursive', 'descend into sub-folders', false)
  .option('--categories <instances.json>', 'COCO file whose categories give category_id by label name')
  .option('-c, --concurrency <n>', 'images in flight at once (default: workers + 1)', positiveInteger)
  .action(async (inputs: string[], opts) => {
    const formats = parseFormats(opts.format);
    const { repository, name } = await openModel(opts.model, opts.models);
    const service = new InferenceService(repository);
    try {
      const summary = await predict({
        inputs,
        service,
        model: name,
        version: opts.version,
        outDir: opts.out,
        formats,
        recursive: opts.recursive,
        categoriesFile: opts.categories,
        concurrency: opts.concurrency,
      });
      process.stdout.write(`${formatSummary(summary)}\n`);
      if (summary.failed.length > 0) process.exitCode = EXIT_FAILURES;
    } finally {
      // Closes the repository and the encoder workers.
      await service.close();
    }
  });

addServeCommand(program, modelsOption);
addWorkerCommand(program, modelsOption);
addTrainCommands(program);

const models = program.command('models').description('inspect the model repository');

models
  .command('list')
  .description('every model with its state, task and versions')
  .addOption(modelsOption())
  .option('--json', 'machine-readable output', false)
  .action(async (opts) => {
    const repository = await ModelRepository.open(opts.models);
    try {
      const list = repository.list();
      process.stdout.write(`${opts.json ? JSON.stringify(list, null, 2) : formatModelList(list)}\n`);
      if (list.some((m) => m.state === 'failed')) process.exitCode = EXIT_FAILURES;
    } finally {
      await repository.close();
    }
  });

models
  .command('show')
  .description('one model in detail: input, labels, versions, load errors')
  .argument('<model>', 'model name or model folder')
  .addOption(modelsOption())
  .option('--json', 'machine-readable output', false)
  .action(async (model: string, opts) => {
    const { repository, name } = await openModel(model, opts.models);
    try {
      const status = repository.get(name);
      if (!status) throw new SegserveError('MODEL_NOT_FOUND', { model });
      process.stdout.write(`${opts.json ? JSON.stringify(status, null, 2) : formatModelDetails(status)}\n`);
      if (status.state === 'failed') process.exitCode = EXIT_FAILURES;
    } finally {
      await repository.close();
    }
  });

models
  .command('push')
  .description('upload a model version to a running server (admin key in $SEGSERVE_ADMIN_KEY)')
  .argument('<file>', 'the ONNX file')
  .requiredOption('-m, --model <name>', 'model name (a new model needs --config)')
  .addOption(serverOption())
  .option('--config <file>', 'config.yaml of a new model')
  .option('--labels <file>', 'labels.txt of a new model')
  .option('-v, --version <n>', 'version number (default: the next one)', positiveInteger)
  .action(async (file: string, opts) => {
    const outcome = await pushVersion({ file, ...opts });
    process.stdout.write(`${formatPushOutcome(outcome)}\n`);
  });

models
  .command('import')
  .description('convert a TFLite model to ONNX and add it to the repository as a new version')
  .argument('<file>', 'the .tflite file')
  .requiredOption('--name <model>', 'model name (its folder in the repository)')
  .addOption(modelsOption())
  .option('--labels <names>', 'class names, comma-separated (binary: background,<foreground>)', (v: string) =>
    v.split(',').map((label) => label.trim()),
  )
  .addOption(new Option('--task <task>', 'task, when not the one inferred').choices(['binary', 'semantic']))
  .option('--version <n>', 'version number (default: the next free one)', positiveInteger)
  .option('--description <text>', 'description for config.yaml')
  .action(async (file: string, opts) => {
    const { name, models: repository, labels, task, version, description } = opts;
    const result = await importTflite(file, { name, repository, labels, task, version, description });
    const config = `${result.configPath}${result.configWritten ? '' : ' (existing, kept)'}`;
    process.stdout.write(`imported ${name} version ${result.version}\n  ${result.onnxPath}\n  ${config}\n`);
  });

addOptimizeCommand(models, modelsOption);

const monitor = program.command('monitor').description('drift monitoring');

monitor
  .command('baseline')
  .description('segment a folder of representative images and write the drift baseline of a model')
  .requiredOption(
    '-m, --model <name|path>',
    'model name in the repository, or a model folder with config.yaml',
  )
  .addOption(modelsOption())
  .option('-v, --version <n>', 'model version (default: the latest loaded)', positiveInteger)
  .requiredOption('--images <dir>', 'folder of images like the traffic the model should see')
  .requiredOption('-o, --out <file>', 'baseline JSON file to write')
  .option('-r, --recursive', 'descend into sub-folders', false)
  .option('--bins <n>', 'quantile bins per signal (default: from the image count)', positiveInteger)
  .action(async (opts) => {
    const { repository, name } = await openModel(opts.model, opts.models);
    const service = new InferenceService(repository);
    try {
      const summary = await monitorBaseline({
        service,
        model: name,
        version: opts.version,
        images: opts.images,
        out: opts.out,
        recursive: opts.recursive,
        bins: opts.bins,
      });
      process.stdout.write(`${formatBaselineSummary(summary, opts.out)}\n`);
      if (summary.failed.length > 0) process.exitCode = EXIT_FAILURES;
    } finally {
      await service.close();
    }
  });

addDatasetCommands(program);
addJobCommands(program);
addEvalCommand(program);

program
  .command('admin')
  .description('admin keys for the admin API')
  .command('hash-key')
  .description(
    'read an admin key on stdin and print the sha256:<hex> line for --admin-key-file (the file then holds no usable secret)',
  )
  .action(async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const key = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    // Validated as the server validates a key, so a hash of a key it would refuse is never printed.
    AdminKeys.fromEntries([{ text: key, where: 'stdin' }]);
    process.stdout.write(`${hashAdminKey(key)}\n`);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const failure = describeFailure(error);
  if (failure.line) process.stderr.write(`${failure.line}\n`);
  process.exitCode = failure.exitCode;
});
