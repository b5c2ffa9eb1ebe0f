/**
 * The labels a model's status lists are the labels its answers use, and `class_id` indexes them. Multilabel
 * and one-label sigmoid models add background as class 0; the status once listed the labels file instead
 * (PAN skin/clothes/hair: 3 labels listed, 4 answered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentationJson } from '../../src/serving/types.js';
import { semanticScene, tinyMultilabelModel, tinySigmoidModel } from '../helpers/tiny-models.js';
import { listen, png, type RunningApp, type TinyRepository, tinyRepository } from './helpers.js';

let repo: TinyRepository;
let server: RunningApp;
let scene: Buffer;

beforeAll(async () => {
  const oneLabel = tinySigmoidModel();
  repo = await tinyRepository({
    multilabel: tinyMultilabelModel(),
    'one-label': { ...oneLabel, config: { ...(oneLabel.config as object), labels: ['red'] } },
  });
  server = await listen({ repository: repo.repository });
  scene = await png(semanticScene());
});

afterAll(async () => {
  await server?.app.close();
  await repo?.close();
});

describe('model status labels = answer labels', () => {
  for (const [model, expected] of [
    ['multilabel', ['background', 'red', 'green', 'blue']],
    ['one-label', ['background', 'red']],
  ] as const) {
    it(`${model}: GET /v1/models/${model} lists the labels class_id indexes`, async () => {
      const status = (await (await fetch(`${server.base}/v1/models/${model}`)).json()) as {
        labels: string[];
      };
      const answer = (await (
        await fetch(`${server.base}/v1/models/${model}/segment`, { method: 'POST', body: scene })
      ).json()) as SegmentationJson;
      expect(status.labels).toEqual(expected);
      expect(answer.labels).toEqual(status.labels);
      expect(answer.classes?.length).toBeGreaterThan(0);
      for (const entry of answer.classes ?? []) expect(status.labels[entry.class_id]).toBe(entry.label);
      const list = (await (await fetch(`${server.base}/v1/models`)).json()) as {
        models: Array<{ name: string; labels: string[] }>;
      };
      expect(list.models.find((m) => m.name === model)?.labels).toEqual(expected);
    });
  }
});
