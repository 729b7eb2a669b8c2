/**
 * A validating front for node-media-server's RTMP chunk parser. It reads the same bytes first,
 * tracking the chunk streams as the parser will (RTMP 1.0, section 5.3), and says "stop" before
 * the parser would allocate a buffer for a message no real publisher sends. node-media-server
 * allocates the *declared* message length for every new chunk stream; this is what bounds it.
 */

export type ChunkLimits = {
  /** The largest message accepted once publishing (video keyframes are the largest). */
  maxMessageBytes: number;
  /** Distinct chunk stream ids one connection may use. */
  maxChunkStreams: number;
};

/** Before a publish is accepted only commands flow: connect, createStream, publish are small. */
export const prePublishLimits: ChunkLimits = { maxMessageBytes: 16 * 1024, maxChunkStreams: 8 };

// C0 (version) + C1 + C2 of the plain handshake.
const handshakeBytes = 1 + 1536 + 1536;
const rtmpVersion = 3;
// Message header sizes by chunk type (fmt 0..3).
const messageHeaderSize = [11, 7, 3, 0] as const;
const setChunkSize = 1;
// Message types a publisher may send: protocol control, user control, AMF0/AMF3 data, commands, media.
const knownTypes = new Set([1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22]);
const maxChunkSize = 0x7fffffff;

type ChunkStream = { timestampField: number; length: number; type: number; received: number };

/**
 * What the guard concluded. `ok` covers the first `consumed` bytes: before publishing, the guard
 * stops after each command so the parser can act on it (a publish raises the limits) before the
 * guard reads what follows, as an encoder may send its first keyframe right behind `publish`.
 */
export type GuardVerdict = { ok: true; consumed: number } | { ok: false; violation: string };

// AMF0 and AMF3 commands (connect, createStream, publish…).
const commandTypes = new Set([17, 20]);

type Phase = 'handshake' | 'basic' | 'header' | 'payload';

export class RtmpChunkGuard {
  private phase: Phase = 'handshake';
  private handshakeSeen = 0;
  private readonly header = Buffer.alloc(3 + 11 + 4);
  private headerHave = 0;
  private headerNeed = 1;
  private current: ChunkStream | null = null;
  private readonly streams = new Map<number, ChunkStream>();
  private chunkSize = 128;
  private limits: ChunkLimits;
  // The payload of a set-chunk-size message, the only one whose content the guard needs.
  private readonly control = Buffer.alloc(4);
  private failed: string | null = null;
  private pauseAfterCommand = false;

  constructor(
    private readonly publishingLimits: ChunkLimits,
    initial: ChunkLimits = prePublishLimits,
  ) {
    this.limits = { maxMessageBytes: Math.min(initial.maxMessageBytes, publishingLimits.maxMessageBytes), maxChunkStreams: Math.min(initial.maxChunkStreams, publishingLimits.maxChunkStreams) };
  }

  /** The publish was accepted: real media may now flow. */
  publishing(): void {
    this.limits = this.publishingLimits;
  }

  get handshakeDone(): boolean {
    return this.phase !== 'handshake';
  }

  /**
   * Reads the next bytes of the connection: all of them, or (before publishing) up to the end
   * of a command. Once it returns a violation, it keeps returning it.
   */
  inspect(data: Uint8Array): GuardVerdict {
    if (this.failed) return { ok: false, violation: this.failed };
    let at = 0;
    while (at < data.length) {
      at = this.step(data, at);
      if (this.failed) return { ok: false, violation: this.failed };
      if (this.pauseAfterCommand) {
        this.pauseAfterCommand = false;
        return { ok: true, consumed: at };
      }
    }
    return { ok: true, consumed: data.length };
  }

  private fail(violation: string): number {
    this.failed = violation;
    return Number.MAX_SAFE_INTEGER;
  }

  private step(data: Uint8Array, at: number): number {
    switch (this.phase) {
      case 'handshake': {
        if (this.handshakeSeen === 0 && data[at] !== rtmpVersion) return this.fail(`handshake version ${data[at]} (expected ${rtmpVersion}: plain RTMP)`);
        const take = Math.min(handshakeBytes - this.handshakeSeen, data.length - at);
        this.handshakeSeen += take;
        if (this.handshakeSeen === handshakeBytes) this.startChunk();
        return at + take;
      }
      case 'basic':
      case 'header': {
        this.header[this.headerHave++] = data[at]!;
        if (this.headerHave === 1) {
          const low = this.header[0]! & 0x3f;
          const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
          this.headerNeed = basic + messageHeaderSize[this.header[0]! >> 6]!;
        }
        if (this.headerHave === this.headerNeed) {
          if (this.phase === 'basic') this.readHeader();
          else this.beginPayload();
        }
        return at + 1;
      }
      case 'payload': {
        const stream = this.current!;
        const inChunk = Math.min(this.chunkSize - (stream.received % this.chunkSize), stream.length - stream.received);
        const take = Math.min(inChunk, data.length - at);
        if (stream.type === setChunkSize) {
          for (let i = 0; i < take && stream.received + i < 4; i++) this.control[stream.received + i] = data[at + i]!;
        }
        stream.received += take;
        if (stream.received >= stream.length) this.completeMessage(stream);
        else if (take === inChunk) this.startChunk();
        return at + take;
      }
    }
  }

  private startChunk(): void {
    this.phase = 'basic';
    this.headerHave = 0;
    this.headerNeed = 1;
  }

  /** The basic and message headers are in: check them, then expect an extended timestamp if any. */
  private readHeader(): void {
    const h = this.header;
    const fmt = h[0]! >> 6;
    const low = h[0]! & 0x3f;
    const basic = low === 0 ? 2 : low === 1 ? 3 : 1;
    // Keyed as node-media-server keys its chunk streams, so both count the same streams.
    const id = basic === 1 ? low : basic === 2 ? 64 + h[1]! : (64 + h[1]! + h[2]!) << 8;
    let stream = this.streams.get(id);
    if (!stream) {
      if (fmt !== 0) return void this.fail(`chunk stream ${id} starts with a type ${fmt} header (a new chunk stream needs a full type 0 header)`);
      if (this.streams.size >= this.limits.maxChunkStreams) return void this.fail(`more than ${this.limits.maxChunkStreams} chunk streams`);
      stream = { timestampField: 0, length: 0, type: 0, received: 0 };
      this.streams.set(id, stream);
    }
    let o = basic;
    if (fmt <= 2) stream.timestampField = h.readUIntBE(o, 3);
    if (fmt <= 1) {
      const length = h.readUIntBE(o + 3, 3);
      const type = h[o + 6]!;
      if (stream.received !== 0 && (length !== stream.length || type !== stream.type)) {
        return void this.fail(`chunk stream ${id} changes its message header in the middle of a message`);
      }
      if (!knownTypes.has(type)) return void this.fail(`message type ${type} is not an RTMP message type`);
      if (length > this.limits.maxMessageBytes) return void this.fail(`a message of ${length} bytes (the limit is ${this.limits.maxMessageBytes}${this.limits === this.publishingLimits ? '' : ' before publishing'})`);
      if (type === setChunkSize && length < 4) return void this.fail(`a set-chunk-size message of ${length} bytes (expected 4)`);
      stream.length = length;
      stream.type = type;
    }
    o += messageHeaderSize[fmt]!;
    this.current = stream;
    if (stream.timestampField === 0xffffff) {
      this.phase = 'header';
      this.headerNeed += 4;
    } else this.beginPayload();
  }

  private beginPayload(): void {
    this.phase = 'payload';
    const stream = this.current!;
    if (stream.length === 0) this.completeMessage(stream);
  }

  private completeMessage(stream: ChunkStream): void {
    stream.received = 0;
    if (commandTypes.has(stream.type) && this.limits !== this.publishingLimits) this.pauseAfterCommand = true;
    if (stream.type === setChunkSize) {
      const size = this.control.readUInt32BE(0);
      if (size < 1 || size > maxChunkSize) return void this.fail(`a chunk size of ${size}`);
      this.chunkSize = size;
    }
    this.startChunk();
  }
}
