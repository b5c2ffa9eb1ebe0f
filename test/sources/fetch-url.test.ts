/**
 * URL fetching on a client's behalf: which addresses are refused (IPv4, IPv6, IPv4 inside IPv6), the check
 * after DNS resolution and on every redirect, timeouts, size caps. The only server contacted is a local one on
 * 127.0.0.1; every refused address is refused before any packet is sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ErrorCode, SegserveError } from '../../src/errors.js';
import { AddressPolicy } from '../../src/sources/address-policy.js';
import { UrlFetcher } from '../../src/sources/fetch-url.js';
import { freePort } from '../http/helpers.js';
import { type Origin, redirectTo, serveBytes, startOrigin } from '../http/origin.js';

const IMAGE = Buffer.from('pretend these are image bytes');

async function failure(promise: Promise<unknown>): Promise<SegserveError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SegserveError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('AddressPolicy', () => {
  const policy = new AddressPolicy();

  const refused: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.170.2', 'cloud metadata'],
    ['169.254.1.1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback, IPv4-mapped'],
    ['::ffff:7f00:1', 'loopback, IPv4-mapped'],
    ['::FFFF:7F00:0001', 'loopback, IPv4-mapped'],
    ['0:0:0:0:0:ffff:127.0.0.1', 'loopback, IPv4-mapped'],
    ['::ffff:169.254.169.254', 'cloud metadata, IPv4-mapped'],
    ['::ffff:10.0.0.1', 'private, IPv4-mapped'],
    ['64:ff9b::7f00:1', 'loopback, NAT64'],
    ['::127.0.0.1', 'loopback, IPv4-compatible'],
    ['2002:a9fe:a9fe::1', 'cloud metadata, 6to4'],
  ];
  for (const [address, range] of refused) {
    it(`refuses ${address} (${range})`, () => {
      expect(policy.refusal(address)).toBe(range);
    });
  }

  for (const address of [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ]) {
    it(`allows the public address ${address}`, () => {
      expect(policy.refusal(address)).toBeUndefined();
    });
  }

  it('an allow-list opens exactly its addresses and ranges, IPv4-mapped forms included', () => {
    const allowing = new AddressPolicy(['127.0.0.1', '10.1.0.0/16', 'fd00::/8']);
    expect(allowing.refusal('127.0.0.1')).toBeUndefined();
    expect(allowing.refusal('::ffff:127.0.0.1')).toBeUndefined();
    expect(allowing.refusal('127.0.0.2')).toBe('loopback');
    expect(allowing.refusal('10.1.2.3')).toBeUndefined();
    expect(allowing.refusal('10.2.0.1')).toBe('private');
    expect(allowing.refusal('fd00::5')).toBeUndefined();
    expect(allowing.refusal('169.254.169.254')).toBe('cloud metadata');
  });

  it('a bad allow-list entry is refused when the server starts', () => {
    for (const entry of ['nope', '10.0.0.0/33', '::1/129', '10.0.0.0/x']) {
      expect(() => new AddressPolicy([entry])).toThrow(/not an IP address or CIDR range/);
    }
  });
});

describe('UrlFetcher', () => {
  let origin: Origin;
  let closedPort: number;

  beforeAll(async () => {
    closedPort = await freePort();
    origin = await startOrigin({
      '/image': serveBytes(IMAGE),
      '/relative': redirectTo('/image'),
      '/to-metadata': redirectTo('http://169.254.169.254/latest/meta-data/'),
      '/to-private': redirectTo('http://10.0.0.1/image', 301),
      '/to-v6-loopback': redirectTo('http://[::1]/image', 307),
      '/to-mapped': redirectTo('http://[::ffff:127.0.0.2]/image', 308),
      '/to-other-loopback': redirectTo('http://127.0.0.2/image'),
      '/to-file': redirectTo('file:///etc/passwd'),
      '/loop': redirectTo('/loop'),
      '/missing': (_request, response) => response.writeHead(404).end('no'),
      '/declared-big': (_request, response) => {
        response.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        response.write(Buffer.alloc(1024));
      },
      '/streamed-big': (_request, response) => {
        response.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024);
        for (let i = 0; i < 16; i++) response.write(chunk);
        response.end();
      },
      '/slow-body': (_request, response) => {
        response.writeHead(200, { 'content-length': '100' });
        response.write(Buffer.alloc(10));
      },
      '/slow-headers': () => {},
    });
  });
  afterAll(() => origin?.close());

  const fetcher = (allow: string[] = ['127.0.0.1']) =>
    new UrlFetcher({
      allow,
      maxBytes: 64 * 1024,
      totalTimeoutMs: 400,
      connectTimeoutMs: 400,
      maxRedirects: 5,
    });

  it('fetches from an allow-listed address, following relative redirects', async () => {
    expect(await fetcher().fetch(`${origin.base}/image`)).toEqual(IMAGE);
    expect(await fetcher().fetch(`${origin.base}/relative`)).toEqual(IMAGE);
  });

  it('resolves names through the guarded lookup and connects to the address it checked', async () => {
    expect(await fetcher(['127.0.0.1', '::1']).fetch(`http://localhost:${origin.port}/image`)).toEqual(IMAGE);
    const error = await failure(fetcher([]).fetch(`http://localhost:${origin.port}/image-by-name`));
    expect(error.code).toBe('URL_FORBIDDEN');
    expect(error.details.range).toBe('loopback');
    expect(origin.hits).not.toContain('/image-by-name');
  });

  const invalid: string[] = [
    'file:///etc/passwd',
    'ftp://example.org/a.png',
    'gopher://x/',
    'javascript:alert(1)',
    'not a url',
  ];
  for (const url of invalid) {
    it(`refuses ${url}: URL_INVALID`, async () => {
      expect((await failure(fetcher().fetch(url))).code).toBe('URL_INVALID');
    });
  }

  const literals: Array<[string, string]> = [
    ['http://127.0.0.2/', '127.0.0.2'],
    ['http://[::1]/', '::1'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['http://10.0.0.1/', '10.0.0.1'],
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.0.0.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['https://[fe80::1]/', 'fe80::1'],
  ];
  for (const [url, address] of literals) {
    it(`refuses ${url} before connecting: URL_FORBIDDEN`, async () => {
      const error = await failure(fetcher([]).fetch(url));
      expect(error.code).toBe('URL_FORBIDDEN');
      expect(error.details.address).toBe(address);
      // The operator learns how to allow it.
      expect(error.message).toContain(`segserve serve --allow-url ${address}`);
    });
  }

  const redirects: Array<[string, ErrorCode, string | undefined]> = [
    ['/to-metadata', 'URL_FORBIDDEN', '169.254.169.254'],
    ['/to-private', 'URL_FORBIDDEN', '10.0.0.1'],
    ['/to-v6-loopback', 'URL_FORBIDDEN', '::1'],
    ['/to-mapped', 'URL_FORBIDDEN', '::ffff:7f00:2'],
    ['/to-other-loopback', 'URL_FORBIDDEN', '127.0.0.2'],
    ['/to-file', 'URL_INVALID', undefined],
    ['/loop', 'URL_FETCH_FAILED', undefined],
  ];
  for (const [path, code, address] of redirects) {
    it(`re-checks the redirect of ${path}: ${code}`, async () => {
      // Only the origin itself is allow-listed: the redirect target must still be refused.
      const error = await failure(fetcher(['127.0.0.1/32']).fetch(`${origin.base}${path}`));
      expect(error.code).toBe(code);
      if (address) expect(error.details.address).toBe(address);
    });
  }

  it('caps redirects', async () => {
    const error = await failure(fetcher().fetch(`${origin.base}/loop`));
    expect(error.message).toContain('more than 5 redirects');
  });

  it('an error status is URL_FETCH_FAILED with the status', async () => {
    const error = await failure(fetcher().fetch(`${origin.base}/missing`));
    expect(error.code).toBe('URL_FETCH_FAILED');
    expect(error.message).toContain('HTTP 404');
  });

  it('a refused connection is URL_FETCH_FAILED', async () => {
    const error = await failure(fetcher().fetch(`http://127.0.0.1:${closedPort}/`));
    expect(error.code).toBe('URL_FETCH_FAILED');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('a declared length over the cap is refused before the body is read', async () => {
    const error = await failure(fetcher().fetch(`${origin.base}/declared-big`));
    expect(error.code).toBe('INPUT_TOO_LARGE');
    expect(error.details.limit).toBe(64 * 1024);
  });

  it('a body without a length is cut off when it passes the cap', async () => {
    expect((await failure(fetcher().fetch(`${origin.base}/streamed-big`))).code).toBe('INPUT_TOO_LARGE');
  });

  for (const path of ['/slow-body', '/slow-headers']) {
    it(`${path}: the total deadline answers URL_TIMEOUT`, async () => {
      const error = await failure(fetcher().fetch(`${origin.base}${path}`));
      expect(error.code).toBe('URL_TIMEOUT');
      expect(error.details.timeout_ms).toBe(400);
    });
  }
});
