// Starts a worker module from the TypeScript sources (vitest, `tsx src/...`); compiled code starts the module's
// .js file in dist/ directly (see thread-entry.ts). The module's URL comes as the worker's last argv entry.
// Node 20 ignores module hooks passed in a Worker's execArgv (`--import tsx` fails with ERR_UNKNOWN_FILE_EXTENSION,
// nodejs/node#47747, fixed in Node 22.2), so tsx is registered inside the thread instead.
import { register } from 'tsx/esm/api';

register();
await import(process.argv.at(-1));
