/**
 * A real S3-protocol server for the tests: s3rver, in a child process started and stopped by the test.
 *
 * A child rather than in the test process, for two reasons: s3rver encrypts ListObjectsV2 continuation tokens
 * with DES, which Node.js 17+ (OpenSSL 3) only offers under `--openssl-legacy-provider`, a process-wide switch
 * the test process should not carry; and killing a process is a real outage, the same as a crashed server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { PROJECT_ROOT } from './paths.js';

/** The credentials s3rver accepts; any would do, the SDK only needs some to sign with. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const MAIN = `
import S3rver from 's3rver';
const [directory, port, bucket] = process.argv.slice(1);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), silent: true, directory, configureBuckets: [{ name: bucket }] });
const address = await server.run();
process.stdout.write(address.port + '\\n');
`;

export class S3rverProcess {
  private child: ChildProcess | undefined;
  /** http://127.0.0.1:<port>, the same across restarts. */
  endpoint = '';
  private port = 0;

  /** `directory` holds the objects, so a restart finds what was stored before the stop. */
  constructor(
    private readonly directory: string,
    readonly bucket: string,
  ) {}

  /** Starts the server (on its previous port after a stop) and resolves once it listens. */
  async start(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        '--openssl-legacy-provider',
        '--input-type=module',
        '-e',
        MAIN,
        this.directory,
        String(this.port),
        this.bucket,
      ],
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let output = '';
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.on('data', (chunk) => {
        output += chunk;
        const match = /^(\d+)\n/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) =>
        reject(new Error(`s3rver exited with ${code} before listening: ${output}`)),
      );
    });
    this.port = port;
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  /** Kills the server (SIGKILL: no goodbye to its clients) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
