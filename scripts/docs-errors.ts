/**
 * `npm run docs:errors`: rewrites README.md's "Error codes" table from the catalogue in src/errors.ts (with the
 * lines of src/http/error-docs.ts). test/errors/catalogue.test.ts fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withErrorsTable } from '../src/http/error-docs.js';

const readme = new URL('../README.md', import.meta.url);
const before = readFileSync(readme, 'utf8');
const after = withErrorsTable(before);
if (after !== before) writeFileSync(readme, after);
process.stdout.write(`README.md error codes table ${after === before ? 'already up to date' : 'rewritten'}\n`);
