/**
 * The one write primitive for ISO-BMFF: a growable big-endian buffer that knows how to open a
 * box, write its fields and patch its size on close. Box writers never add offsets by hand.
 */
export class BoxWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialSize = 1024) {
    this.buffer = Buffer.alloc(initialSize);
  }

  get position(): number {
    return this.length;
  }

  private reserve(bytes: number): number {
    const at = this.length;
    const needed = at + bytes;
    if (needed > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(needed, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, at);
      this.buffer = grown;
    }
    this.length = needed;
    return at;
  }

  u8(value: number): void {
    const at = this.reserve(1);
    this.buffer.writeUInt8(value, at);
  }

  u16(value: number): void {
    const at = this.reserve(2);
    this.buffer.writeUInt16BE(value, at);
  }

  i16(value: number): void {
    const at = this.reserve(2);
    this.buffer.writeInt16BE(value, at);
  }

  u24(value: number): void {
    const at = this.reserve(3);
    this.buffer.writeUInt16BE(value >>> 8, at);
    this.buffer.writeUInt8(value & 0xff, at + 2);
  }

  u32(value: number): void {
    const at = this.reserve(4);
    this.buffer.writeUInt32BE(value, at);
  }

  i32(value: number): void {
    const at = this.reserve(4);
    this.buffer.writeInt32BE(value, at);
  }

  u64(value: bigint): void {
    const at = this.reserve(8);
    this.buffer.writeBigUInt64BE(value, at);
  }

  i64(value: bigint): void {
    const at = this.reserve(8);
    this.buffer.writeBigInt64BE(value, at);
  }

  fourcc(code: string): void {
    if (code.length !== 4) throw new RangeError(`fourcc must be 4 characters, received ${JSON.stringify(code)}`);
    const at = this.reserve(4);
    this.buffer.write(code, at, 'latin1');
  }

  bytes(data: Uint8Array): void {
    const at = this.reserve(data.length);
    this.buffer.set(data, at);
  }

  zeros(count: number): void {
    const at = this.reserve(count);
    this.buffer.fill(0, at, this.length);
  }

  /** A NUL-terminated UTF-8 string. */
  cstring(text: string): void {
    this.bytes(Buffer.from(text, 'utf8'));
    this.u8(0);
  }

  /** Writes `size | type | body`, patching the 32-bit size once the body is written. */
  box(type: string, body: () => void): void {
    const start = this.reserve(4);
    this.fourcc(type);
    body();
    const size = this.length - start;
    if (size > 0xffffffff) throw new RangeError(`box ${type} is larger than 4 GiB`);
    this.buffer.writeUInt32BE(size, start);
  }

  /** A FullBox (ISO/IEC 14496-12 §4.2): version (8 bits) and flags (24 bits) open the body. */
  fullBox(type: string, version: number, flags: number, body: () => void): void {
    this.box(type, () => {
      this.u8(version);
      this.u24(flags);
      body();
    });
  }

  finish(): Uint8Array {
    return new Uint8Array(this.buffer.buffer, this.buffer.byteOffset, this.length).slice();
  }
}
