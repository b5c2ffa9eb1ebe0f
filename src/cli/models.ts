/** `segserve models list|show`: what the repository holds, what loaded, and why something did not. */
import type { ModelStatus } from '../models/index.js';
import { formatTable } from './table.js';

export function formatModelList(models: ModelStatus[]): string {
  if (models.length === 0) return 'no models found';
  const rows = models.map((m) => [
    m.name,
    m.state,
    m.task ?? '-',
    m.decoder ?? '-',
    m.versions.map((v) => `${v.version}:${v.state}`).join(' ') || '-',
    m.error ? `${m.error.code}: ${m.error.message}` : '',
  ]);
  return formatTable(['MODEL', 'STATE', 'TASK', 'DECODER', 'VERSIONS', 'ERROR'], rows);
}

export function formatModelDetails(model: ModelStatus): string {
  const lines = [`model:    ${model.name}`, `folder:   ${model.dir}`, `state:    ${model.state}`];
  if (model.error) lines.push(`error:    ${model.error.code}: ${model.error.message}`);
  if (model.task) lines.push(`task:     ${model.task} (decoder ${model.decoder})`);
  if (model.input) {
    const i = model.input;
    lines.push(
      `input:    ${i.name ?? '(first input)'} ${i.width}x${i.height} ${i.layout} ${i.color}, ${i.resize}` +
        `${i.resize === 'letterbox' ? ` (pad ${i.pad_value})` : ''}, scale ${i.scale}, mean [${i.mean.join(', ')}], std [${i.std.join(', ')}]`,
    );
  }
  if (model.labels) {
    const shown = model.labels.slice(0, 20).join(', ');
    lines.push(`labels:   ${model.labels.length} (${shown}${model.labels.length > 20 ? ', ...' : ''})`);
  }
  if (model.gate) {
    const { gate } = model;
    const version = gate.version === undefined ? '' : ` version ${gate.version}`;
    lines.push(
      `gate:     ${gate.model}${version}, accepts ${gate.accept.join(', ')} with at least ${gate.min_score}`,
    );
  }
  lines.push('versions:');
  for (const v of model.versions) {
    lines.push(
      `  ${v.version}  ${v.state.padEnd(7)} ${v.modelPath}${v.error ? `\n      ${v.error.code}: ${v.error.message}` : ''}`,
    );
  }
  return lines.join('\n');
}
