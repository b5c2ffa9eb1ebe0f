import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { sniffImageFormat } from '../../src/image/sniff.js';
import { type Encoding, encode, heicContainer, noiseBytes, noiseImage } from './fixtures.js';

function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const brands = Buffer.from([major, '\0\0\0\0', ...compatible].join(''), 'latin1');
  const size = Buffer.alloc(4);
  size.writeUInt32BE(8 + brands.length);
  return Buffer.concat([size, Buffer.from('ftyp', 'latin1'), brands, Buffer.alloc(32)]);
}

describe('sniffImageFormat', () => {
  const image = noiseImage(24, 16);

  it.each<[Encoding, string]>([
    ['jpeg', 'jpeg'],
    ['png', 'png'],
    ['webp', 'webp'],
    ['gif', 'gif'],
    ['tiff', 'tiff'],
    ['avif', 'avif'],
  ])('recognises %s written by sharp', async (encoding, expected) => {
    expect(sniffImageFormat(await encode(image, encoding))).toBe(expected);
  });

  it('recognises TIFF in both byte orders, classic and BigTIFF', () => {
    expect(sniffImageFormat(Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]))).toBe('tiff');
    expect(sniffImageFormat(Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]))).toBe('tiff');
    expect(sniffImageFormat(Buffer.from([0x49, 0x49, 0x2b, 0x00, 8, 0, 0, 0]))).toBe('tiff');
    expect(sniffImageFormat(Buffer.from([0x4d, 0x4d, 0x00, 0x2b, 0, 8, 0, 0]))).toBe('tiff');
  });

  it('reads GIF87a as well as GIF89a', () => {
    expect(sniffImageFormat(Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1'))).toBe('gif');
    expect(sniffImageFormat(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBe('gif');
  });

  it('tells AVIF from HEIF by every ftyp brand, not only the major one', () => {
    expect(sniffImageFormat(ftyp('avif', 'mif1', 'miaf'))).toBe('avif');
    expect(sniffImageFormat(ftyp('avis', 'msf1'))).toBe('avif');
    expect(sniffImageFormat(ftyp('mif1', 'avif', 'miaf'))).toBe('avif');
    expect(sniffImageFormat(ftyp('heic', 'mif1'))).toBe('heif');
    expect(sniffImageFormat(ftyp('heix', 'mif1'))).toBe('heif');
    expect(sniffImageFormat(ftyp('mif1', 'heic'))).toBe('heif');
    expect(sniffImageFormat(heicContainer(64, 48))).toBe('heif');
  });

  it('refuses ISO-BMFF files that are not images (MP4 video, QuickTime)', () => {
    expect(sniffImageFormat(ftyp('isom', 'iso2', 'avc1', 'mp41'))).toBeNull();
    expect(sniffImageFormat(ftyp('qt  '))).toBeNull();
  });

  it('ignores brands past the end of the ftyp box', () => {
    const bytes = Buffer.concat([ftyp('isom'), Buffer.from('avif', 'latin1')]);
    expect(sniffImageFormat(bytes)).toBeNull();
  });

  it('refuses text, archives, other image formats and random bytes', () => {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), deflateRawSync(Buffer.from('hello'))]);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    const bmp = Buffer.concat([Buffer.from('BM', 'latin1'), Buffer.alloc(60)]);
    const pdf = Buffer.from('%PDF-1.7\n');
    const riffWave = Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1');
    for (const bytes of [Buffer.from('hello, world\n'), zip, svg, bmp, pdf, riffWave, noiseBytes(4096, 3)]) {
      expect(sniffImageFormat(bytes)).toBeNull();
    }
  });

  it('refuses prefixes too short to carry a whole signature', () => {
    expect(sniffImageFormat(new Uint8Array(0))).toBeNull();
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8]))).toBeNull();
    expect(sniffImageFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBeNull();
    expect(sniffImageFormat(Buffer.from('RIFF\0\0\0\0WEB', 'latin1'))).toBeNull();
    expect(sniffImageFormat(Buffer.from('GIF8', 'latin1'))).toBeNull();
  });

  it('reads from a view into a larger buffer at its own offset', () => {
    const backing = Buffer.concat([Buffer.from('junk'), ftyp('avif')]);
    expect(sniffImageFormat(new Uint8Array(backing.buffer, backing.byteOffset + 4, backing.length - 4))).toBe(
      'avif',
    );
  });
});
