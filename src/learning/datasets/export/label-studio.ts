/**
 * Label Studio tasks JSON: what Label Studio's import takes (a list of tasks, each `{data, annotations}`), with
 * every segment as a BrushLabels result in Label Studio's own brush RLE (src/masks/brush-rle.ts), one per
 * instance or per class present. `labeling-config.xml` is the project's labeling configuration the results
 * refer to (`from_name` "tag", `to_name` "image"). `data.image` is `<image root><sha256>.<ext>`: the root
 * defaults to `images/`, the export's own folder; point it at where Label Studio reads the images from (a bucket
 * URL, `/data/local-files/?d=...`).
 */
import { decodeRle, maskToBrushRle } from '../../../masks/index.js';
import type { DatasetDefinition } from '../../dataset-items.js';
import type { Split } from '../manifest.js';
import {
  type ExportFile,
  type ExportItem,
  escapeXml,
  foregroundClasses,
  jsonFile,
  textFile,
} from './items.js';

export const FROM_NAME = 'tag';
export const TO_NAME = 'image';
export const DEFAULT_IMAGE_ROOT = 'images/';

export interface BrushResult {
  id: string;
  type: 'brushlabels';
  from_name: string;
  to_name: string;
  original_width: number;
  original_height: number;
  image_rotation: 0;
  value: { format: 'rle'; rle: number[]; brushlabels: [string] };
}

export interface LabelStudioTask {
  data: { image: string; split: Split; sha256: string };
  annotations: Array<{ result: BrushResult[] }>;
}

export function labelStudioTasks(
  items: readonly ExportItem[],
  imageRoot = DEFAULT_IMAGE_ROOT,
): LabelStudioTask[] {
  return items.map((item) => {
    const { width, height, labels, segments } = item.label;
    return {
      data: {
        image: `${imageRoot}${item.fileName}`,
        split: item.entry.split,
        sha256: item.entry.imageSha256,
      },
      annotations: [
        {
          result: segments.map((segment, index) => ({
            id: `seg${index}`,
            type: 'brushlabels',
            from_name: FROM_NAME,
            to_name: TO_NAME,
            original_width: width,
            original_height: height,
            image_rotation: 0,
            value: {
              format: 'rle',
              rle: maskToBrushRle(decodeRle(segment.rle)),
              brushlabels: [labels[segment.class_id]],
            },
          })),
        },
      ],
    };
  });
}

export function labelingConfig(dataset: Pick<DatasetDefinition, 'task' | 'labels'>): string {
  const labels = foregroundClasses(dataset).map(([, name]) => `    <Label value="${escapeXml(name)}"/>`);
  return [
    '<View>',
    `  <Image name="${TO_NAME}" value="$image" zoom="true"/>`,
    `  <BrushLabels name="${FROM_NAME}" toName="${TO_NAME}">`,
    ...labels,
    '  </BrushLabels>',
    '</View>',
    '',
  ].join('\n');
}

export function labelStudioFiles(
  dataset: Pick<DatasetDefinition, 'task' | 'labels'>,
  items: readonly ExportItem[],
  imageRoot?: string,
): ExportFile[] {
  return [
    jsonFile('tasks.json', labelStudioTasks(items, imageRoot)),
    textFile('labeling-config.xml', labelingConfig(dataset), 'application/xml'),
  ];
}
