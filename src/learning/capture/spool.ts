/**
 * The spool: samples kept while the blob store or database is down wait here, on the local disk, until the
 * capture replays them. Layout, under `<data dir>/spool`:
 *
 *     items/<time>-<uuid>/image        the image's bytes
 *     items/<time>-<uuid>/label.json   the prediction as a label document
 *     items/<time>-<uuid>/meta.json    the row's fields (sample-record.ts), with a format number
 *     staging/<uuid>/                  an item being written
 *
 * An item is written whole in staging, each file flushed to disk, then its folder is renamed into `items/`:
 * a crash leaves a complete item or none (only a staging folder, removed at a later open once it is an hour
 * old, since another process sharing the folder could still be writing it). Names start with the time,
 * zero-padded, so name order is oldest first, and survive a restart: the spool is read back at start.
 *
 * The spool holds at most `maxBytes` (the three files of every item); an item that would go beyond is refused,
 * and the caller counts it as dropped. Sizes are kept in memory, counted once at open.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { syncFolder, writeNewFileSynced } from '../../storage/index.js';
import { SampleMetaSchema, type SampleRecord } from './sample-record.js';

const FORMAT = 1;
const FILES = { image: 'image', label: 'label.json', meta: 'meta.json' } as const;
/** A staging folder this old was left by a crash: writing an item never takes an hour. */
const STALE_STAGING_MS = 3_600_000;

interface Entry {
  name: string;
  bytes: number;
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Entries of `folder`, none when it does not exist (a spool never written to has no folder). */
async function entriesOf(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return [];
    throw error;
  }
}

async function itemBytes(folder: string): Promise<number> {
  let total = 0;
  for (const file of Object.values(FILES)) total += (await stat(join(folder, file))).size;
  return total;
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #items: string;
  readonly #staging: string;
  /** Every item, oldest first. */
  readonly #entries: Entry[] = [];
  /** Bytes of the items, plus those being written (reserved before writing, so two writers cannot overshoot). */
  #bytes = 0;
  /** Why the spool could not be read at open, if it could not. */
  openError: unknown;

  private constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.#items = join(dir, 'items');
    this.#staging = join(dir, 'staging');
  }

  /**
   * Reads what an earlier run left (the items, their sizes) and removes stale staging folders. Creates nothing:
   * a server that never spools never makes the folder. It never throws: a spool it cannot read (permissions,
   * a file where the folder should be) opens empty with `openError` set, so sampling's spool never stops a
   * server from serving; writing to it will fail the same way, and the capture counts those samples.
   */
  static async open(dir: string, maxBytes: number): Promise<Spool> {
    const spool = new Spool(dir, maxBytes);
    try {
      for (const name of (await entriesOf(spool.#items)).sort()) {
        const bytes = await itemBytes(join(spool.#items, name)).catch(() => 0);
        // An item with a file missing is still listed: reading it fails, and the capture drops it with a reason.
        spool.#entries.push({ name, bytes });
        spool.#bytes += bytes;
      }
      const now = Date.now();
      for (const name of await entriesOf(spool.#staging)) {
        const path = join(spool.#staging, name);
        const stats = await lstat(path).catch(() => undefined);
        if (stats && now - stats.mtimeMs > STALE_STAGING_MS) await rm(path, { recursive: true, force: true });
      }
    } catch (error) {
      spool.openError = error;
    }
    return spool;
  }

  get items(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The oldest item's name, or undefined when the spool is empty. */
  oldest(): string | undefined {
    return this.#entries[0]?.name;
  }

  /** Writes `record` as a new item; `full` (nothing written) when it would take the spool past its bound. */
  async add(record: SampleRecord): Promise<'spooled' | 'full'> {
    const meta = new TextEncoder().encode(JSON.stringify({ format: FORMAT, ...record.meta }));
    const bytes = record.image.byteLength + record.label.byteLength + meta.byteLength;
    if (this.#bytes + bytes > this.maxBytes) return 'full';
    this.#bytes += bytes;
    const staged = join(this.#staging, randomUUID());
    const name = `${String(Date.now()).padStart(15, '0')}-${randomUUID()}`;
    try {
      await mkdir(staged, { recursive: true });
      await writeNewFileSynced(join(staged, FILES.image), record.image);
      await writeNewFileSynced(join(staged, FILES.label), record.label);
      await writeNewFileSynced(join(staged, FILES.meta), meta);
      await mkdir(this.#items, { recursive: true });
      await rename(staged, join(this.#items, name));
      await syncFolder(this.#items);
    } catch (error) {
      this.#bytes -= bytes;
      await rm(staged, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
    this.#insert({ name, bytes });
    return 'spooled';
  }

  /**
   * The record of item `name`; undefined when it is gone (removed by another process sharing the folder).
   * Throws when its files are damaged or of another format: the caller drops it, since it can never be read.
   */
  async read(name: string): Promise<SampleRecord | undefined> {
    const folder = join(this.#items, name);
    let files: Buffer[];
    try {
      files = await Promise.all(
        [FILES.meta, FILES.image, FILES.label].map((file) => readFile(join(folder, file))),
      );
    } catch (error) {
      if (codeOf(error) === 'ENOENT' && !(await exists(folder))) return undefined;
      throw error;
    }
    const [metaBytes, image, label] = files;
    const { format, ...fields } = JSON.parse(metaBytes.toString('utf8')) as { format?: unknown };
    if (format !== FORMAT) throw new Error(`spool item ${name} has format ${String(format)}, not ${FORMAT}`);
    const meta = SampleMetaSchema.parse(fields);
    return { meta, image, label };
  }

  /**
   * Removes item `name` from the spool. It leaves the listing at once, even if deleting its files fails (a
   * full or read-only disk): such an item is replayed again at the next start, which stores nothing twice.
   */
  async remove(name: string): Promise<void> {
    const index = this.#entries.findIndex((entry) => entry.name === name);
    if (index < 0) return;
    const [entry] = this.#entries.splice(index, 1);
    this.#bytes -= entry.bytes;
    await rm(join(this.#items, name), { recursive: true, force: true });
  }

  /** Keeps the entries in name order (an item written in the same millisecond may arrive out of order). */
  #insert(entry: Entry): void {
    let at = this.#entries.length;
    while (at > 0 && this.#entries[at - 1].name > entry.name) at--;
    this.#entries.splice(at, 0, entry);
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
