/**
 * `npm run docs:settings`: rewrites README.md's "Configuration" table from the settings registry
 * (src/cli/config/registry.ts). test/deploy/settings.test.ts fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../src/cli/config/readme.js';

const readme = new URL('../README.md', import.meta.url);
const before = readFileSync(readme, 'utf8');
const after = withSettingsTable(before);
if (after !== before) writeFileSync(readme, after);
process.stdout.write(`README.md settings table ${after === before ? 'already up to date' : 'rewritten'}\n`);
