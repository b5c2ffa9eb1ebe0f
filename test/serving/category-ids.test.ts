/**
 * COCO results carry COCO's official category ids for COCO-labelled models (1..90 with gaps), a dataset's ids
 * when its categories are given, and class index + 1 otherwise; the mapping says which it is.
 */
import { describe, expect, it } from 'vitest';
import { categoryMapping, parseDatasetCategories } from '../../src/serving/category-ids.js';
import { COCO_CATEGORIES } from '../../src/serving/coco-categories.js';

const COCO_LABELS = COCO_CATEGORIES.map(([name]) => name);

describe('categoryMapping', () => {
  it("has COCO's 80 categories with unique ids in 1..90", () => {
    expect(COCO_CATEGORIES).toHaveLength(80);
    const ids = COCO_CATEGORIES.map(([, id]) => id);
    expect(new Set(ids).size).toBe(80);
    expect(Math.min(...ids)).toBe(1);
    expect(Math.max(...ids)).toBe(90);
  });

  it("gives a model labelled with COCO's 80 names COCO's official ids", () => {
    const mapping = categoryMapping(COCO_LABELS);
    expect(mapping.kind).toBe('coco');
    expect(mapping.description).toMatch(/^coco/);
    const id = (label: string) => mapping.categoryId(label, COCO_LABELS.indexOf(label));
    expect(id('person')).toBe(1);
    expect(id('frisbee')).toBe(34);
    expect(id('toothbrush')).toBe(90);
    expect(id('dining table')).toBe(67);
  });

  it("maps by name whatever the labels' order, with extras such as torchvision's background and N/A", () => {
    const labels = ['__background__', ...[...COCO_LABELS].reverse(), 'N/A'];
    const mapping = categoryMapping(labels);
    expect(mapping.kind).toBe('coco');
    expect(mapping.categoryId('frisbee', labels.indexOf('frisbee'))).toBe(34);
  });

  it('uses class index + 1 for other models, and says so', () => {
    const mapping = categoryMapping(['person', 'car', 'frisbee']);
    expect(mapping.kind).toBe('index+1');
    expect(mapping.description).toMatch(/^index\+1/);
    expect(mapping.categoryId('frisbee', 2)).toBe(3);
  });

  it("uses a dataset's categories by name when given, naming the labels it lacks", () => {
    const categories = parseDatasetCategories(
      {
        categories: [
          { id: 7, name: 'cat' },
          { id: 9, name: 'dog' },
        ],
      },
      'cats.json',
    );
    const mapping = categoryMapping(['cat', 'dog', 'bird'], categories);
    expect(mapping.kind).toBe('dataset categories file');
    expect(mapping.description).toMatch(/^dataset categories file .*bird/);
    expect([
      mapping.categoryId('cat', 0),
      mapping.categoryId('dog', 1),
      mapping.categoryId('bird', 2),
    ]).toEqual([7, 9, 3]);
  });

  it('refuses a categories file without a valid categories list', () => {
    expect(() => parseDatasetCategories({}, 'x.json')).toThrow(/x.json has no "categories" list/);
    expect(() => parseDatasetCategories({ categories: [{ id: 'a', name: 'b' }] }, 'x.json')).toThrow(
      /categories\[0\]/,
    );
  });
});
