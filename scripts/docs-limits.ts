/**
 * `npm run docs:limits`: rewrites README.md's "Limits" table from the table in src/http/settings.ts.
 * test/http/limits.test.ts fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withLimitsTable } from '../src/http/settings.js';

const readme = new URL('../README.md', import.meta.url);
const before = readFileSync(readme, 'utf8');
const after = withLimitsTable(before);
if (after !== before) writeFileSync(readme, after);
process.stdout.write(`README.md limits table ${after === before ? 'already up to date' : 'rewritten'}\n`);
