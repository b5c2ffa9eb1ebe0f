/**
 * Bounds-checked access to FlatBuffer tables. `flatbuffers`' ByteBuffer reads without checking anything (an
 * offset past the end reads `undefined` bytes as zeros), so every offset, vtable and vector here is checked
 * against the buffer before it is followed, and a bad one throws TFLITE_INVALID naming the field's path
 * (e.g. `subgraphs[0].tensors[12].shape`). A corrupt file is an error with a reason, never a crash or a
 * silently wrong model.
 */
import { ByteBuffer } from 'flatbuffers';
import { SegserveError } from '../../errors.js';

export function invalid(reason: string): SegserveError {
  return new SegserveError('TFLITE_INVALID', { reason });
}

const decoder = new TextDecoder();

/** A table, or an absent one: every field of an absent table reads as its schema default. */
export class Table {
  readonly path: string;
  readonly #bb: ByteBuffer | undefined;
  readonly #pos: number;
  readonly #vtable: number;
  readonly #vtableSize: number;
  readonly #inlineSize: number;

  private constructor(bb: ByteBuffer | undefined, pos: number, path: string) {
    this.path = path;
    this.#bb = bb;
    this.#pos = pos;
    if (!bb) {
      this.#vtable = this.#vtableSize = this.#inlineSize = 0;
      return;
    }
    const size = bb.capacity();
    if (pos < 0 || pos + 4 > size) throw invalid(`${path}: table at byte ${pos} lies outside the file`);
    const vtable = pos - bb.readInt32(pos);
    if (vtable < 0 || vtable + 4 > size)
      throw invalid(`${path}: vtable at byte ${vtable} lies outside the file`);
    const vtableSize = bb.readUint16(vtable);
    const inlineSize = bb.readUint16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0 || vtable + vtableSize > size) {
      throw invalid(`${path}: vtable of ${vtableSize} bytes at byte ${vtable} is malformed`);
    }
    if (inlineSize < 4 || pos + inlineSize > size) {
      throw invalid(`${path}: table of ${inlineSize} bytes at byte ${pos} runs past the end of the file`);
    }
    this.#vtable = vtable;
    this.#vtableSize = vtableSize;
    this.#inlineSize = inlineSize;
  }

  /** The root table of a buffer, after checking its 4-byte file identifier. */
  static root(bytes: Uint8Array, identifier: string, path: string): Table {
    if (bytes.length < 8) throw invalid(`${bytes.length} bytes are too few for a FlatBuffer`);
    const bb = new ByteBuffer(bytes);
    if (!bb.__has_identifier(identifier)) {
      const found = JSON.stringify(decoder.decode(bytes.subarray(4, 8)));
      throw invalid(`file identifier is ${found}, expected "${identifier}"`);
    }
    return new Table(bb, bb.readUint32(0), path);
  }

  static absent(path: string): Table {
    return new Table(undefined, 0, path);
  }

  /** Absolute position of field `slot` (its index in the schema, unions counting two), or 0 when absent. */
  #field(slot: number, width: number): number {
    const entry = 4 + 2 * slot;
    if (!this.#bb || entry >= this.#vtableSize) return 0;
    const offset = this.#bb.readUint16(this.#vtable + entry);
    if (offset === 0) return 0;
    if (offset + width > this.#inlineSize) {
      throw invalid(`${this.path}: field ${slot} at offset ${offset} lies outside its table`);
    }
    return this.#pos + offset;
  }

  #bytes(): ByteBuffer {
    return this.#bb!;
  }

  /** Follows the uoffset stored at `at`, checking the target lies in the file. */
  #follow(at: number, path: string): number {
    const bb = this.#bytes();
    const target = at + bb.readUint32(at);
    if (target >= bb.capacity()) throw invalid(`${path}: offset points past the end of the file`);
    return target;
  }

  int8(slot: number, fallback: number): number {
    const at = this.#field(slot, 1);
    return at ? this.#bytes().readInt8(at) : fallback;
  }

  uint8(slot: number, fallback: number): number {
    const at = this.#field(slot, 1);
    return at ? this.#bytes().readUint8(at) : fallback;
  }

  bool(slot: number, fallback: boolean): boolean {
    const at = this.#field(slot, 1);
    return at ? this.#bytes().readUint8(at) !== 0 : fallback;
  }

  int32(slot: number, fallback: number): number {
    const at = this.#field(slot, 4);
    return at ? this.#bytes().readInt32(at) : fallback;
  }

  uint32(slot: number, fallback: number): number {
    const at = this.#field(slot, 4);
    return at ? this.#bytes().readUint32(at) : fallback;
  }

  uint64(slot: number, fallback: bigint): bigint {
    const at = this.#field(slot, 8);
    return at ? this.#bytes().readUint64(at) : fallback;
  }

  float32(slot: number, fallback: number): number {
    const at = this.#field(slot, 4);
    return at ? this.#bytes().readFloat32(at) : fallback;
  }

  table(slot: number, name: string): Table | undefined {
    const at = this.#field(slot, 4);
    const path = `${this.path}.${name}`;
    return at ? new Table(this.#bb, this.#follow(at, path), path) : undefined;
  }

  /** Start and length of vector field `slot`, its elements checked to lie in the file. */
  #vector(slot: number, elementSize: number, name: string): { start: number; length: number } | undefined {
    const at = this.#field(slot, 4);
    if (!at) return undefined;
    const path = `${this.path}.${name}`;
    const bb = this.#bytes();
    const header = this.#follow(at, path);
    if (header + 4 > bb.capacity()) throw invalid(`${path}: vector header runs past the end of the file`);
    const length = bb.readUint32(header);
    const start = header + 4;
    if (start + length * elementSize > bb.capacity()) {
      throw invalid(`${path}: ${length} elements of ${elementSize} bytes run past the end of the file`);
    }
    return { start, length };
  }

  tables(slot: number, name: string): Table[] {
    const vector = this.#vector(slot, 4, name);
    if (!vector) return [];
    return Array.from({ length: vector.length }, (_, i) => {
      const path = `${this.path}.${name}[${i}]`;
      return new Table(this.#bb, this.#follow(vector.start + 4 * i, path), path);
    });
  }

  int32s(slot: number, name: string): number[] | undefined {
    const v = this.#vector(slot, 4, name);
    return v && Array.from({ length: v.length }, (_, i) => this.#bytes().readInt32(v.start + 4 * i));
  }

  int64s(slot: number, name: string): bigint[] | undefined {
    const v = this.#vector(slot, 8, name);
    return v && Array.from({ length: v.length }, (_, i) => this.#bytes().readInt64(v.start + 8 * i));
  }

  float32s(slot: number, name: string): number[] | undefined {
    const v = this.#vector(slot, 4, name);
    return v && Array.from({ length: v.length }, (_, i) => this.#bytes().readFloat32(v.start + 4 * i));
  }

  /** A `[ubyte]` vector as a view into the file (no copy). */
  bytes(slot: number, name: string): Uint8Array | undefined {
    const v = this.#vector(slot, 1, name);
    return (
      v &&
      this.#bytes()
        .bytes()
        .subarray(v.start, v.start + v.length)
    );
  }

  string(slot: number, name: string): string | undefined {
    const bytes = this.bytes(slot, name);
    return bytes && decoder.decode(bytes);
  }
}
