/**
 * "CVAT for images 1.1" XML (`annotations.xml`, the images in `images/`, the layout of CVAT's own export zip):
 * one `<image>` per image with its size, and one `<mask>` per instance or per class present, each carrying CVAT's
 * mask RLE over the segment's tight box (src/masks/cvat-rle.ts) as CVAT writes it (`rle="3, 5, 7"`, `left`,
 * `top`, `width`, `height`). The labels are declared in `<meta><task><labels>` with type `mask`. An image's
 * `subset` attribute carries its split, as CVAT's project exports name subsets. An empty segment has no box and
 * no CVAT mask: it is left out.
 */
import { decodeRle, formatCvatRle, maskToCvat } from '../../../masks/index.js';
import type { DatasetDefinition } from '../../dataset-items.js';
import { type ExportFile, type ExportItem, escapeXml, foregroundClasses, textFile } from './items.js';

export const CVAT_FILE = 'annotations.xml';

export function cvatXml(
  dataset: Pick<DatasetDefinition, 'name' | 'task' | 'labels'>,
  versionId: string,
  items: readonly ExportItem[],
): string {
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<annotations>',
    '  <version>1.1</version>',
    '  <meta>',
    '    <task>',
    `      <name>${escapeXml(`${dataset.name}@${versionId.slice(0, 12)}`)}</name>`,
    `      <size>${items.length}</size>`,
    '      <mode>annotation</mode>',
    '      <labels>',
    ...foregroundClasses(dataset).flatMap(([, name]) => [
      '        <label>',
      `          <name>${escapeXml(name)}</name>`,
      '          <type>mask</type>',
      '          <attributes>',
      '          </attributes>',
      '        </label>',
    ]),
    '      </labels>',
    '    </task>',
    '  </meta>',
  ];
  items.forEach((item, index) => {
    const { width, height, labels, segments } = item.label;
    lines.push(
      `  <image id="${index}" name="${escapeXml(item.fileName)}" subset="${item.entry.split}" width="${width}" height="${height}">`,
    );
    for (const segment of segments) {
      const mask = maskToCvat(decodeRle(segment.rle));
      if (!mask) continue;
      lines.push(
        `    <mask label="${escapeXml(labels[segment.class_id])}" source="manual" occluded="0" ` +
          `rle="${formatCvatRle(mask.rle)}" left="${mask.left}" top="${mask.top}" width="${mask.width}" ` +
          `height="${mask.height}" z_order="0">`,
        '    </mask>',
      );
    }
    lines.push('  </image>');
  });
  lines.push('</annotations>', '');
  return lines.join('\n');
}

export function cvatFiles(
  dataset: Pick<DatasetDefinition, 'name' | 'task' | 'labels'>,
  versionId: string,
  items: readonly ExportItem[],
): ExportFile[] {
  return [textFile(CVAT_FILE, cvatXml(dataset, versionId, items), 'application/xml')];
}
