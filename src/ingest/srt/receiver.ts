import type { Logger } from '../../logger.js';
import { parseKeyMaterial, type SrtDecryptor } from './crypto.js';
import { controlPacket, controlType, seqAdd, seqDiff, type ControlPacket, type DataPacket } from './packet.js';

export type SrtStats = {
  packetsReceived: number;
  packetsLost: number;
  packetsRetransmitted: number;
  packetsDropped: number;
  packetsDuplicate: number;
  bytesReceived: number;
  rttMs: number;
  rttVarMs: number;
  decryptionFailures: number;
  keyRefreshes: number;
};

/** Packets held for reordering and repair; the window the sender is told it may fill. */
const maxBufferedPackets = 8192;
const keepaliveMs = 1000;
/** Losses one periodic NAK names: 256 × 4 bytes stays under a 1500-byte MTU even with no ranges. */
const maxNakEntries = 256;

export type Peer = { address: string; port: number };

/**
 * The receiving side of one SRT connection (live mode): ARQ with immediate and periodic NAKs,
 * TSBPD delivery with too-late drop, full ACKs with RTT from ACKACK, key refreshes, statistics.
 * Payloads come out in order through `deliverPayload`; it knows nothing of sockets or what they carry.
 */
export class SrtReceiver {
  readonly started = Date.now();
  lastReceived = Date.now();
  lastSent = Date.now();
  nextExpected: number;
  private readonly buffer = new Map<number, { payload: Buffer; deadline: number }>();
  /** Missing packets: when each stops being useful, and when it was last reported (NAK). */
  private readonly lost = new Map<number, { deadline: number; reportedAt: number }>();
  private ackNumber = 1;
  private readonly acksSent = new Map<number, number>();
  private lastAckedSeq = -1;
  private timeBase: number | null = null;
  rttUs = 100_000;
  rttVarUs = 50_000;
  readonly stats: SrtStats = { packetsReceived: 0, packetsLost: 0, packetsRetransmitted: 0, packetsDropped: 0, packetsDuplicate: 0, bytesReceived: 0, rttMs: 100, rttVarMs: 50, decryptionFailures: 0, keyRefreshes: 0 };
  closed = false;
  decryptor: SrtDecryptor | null = null;

  constructor(
    readonly socketId: number,
    readonly peerSocketId: number,
    readonly peer: Peer,
    initialSeq: number,
    readonly latencyMs: number,
    private readonly send: (packet: Buffer) => void,
    /** In-order payloads, as the sender sent them. */
    private readonly deliverPayload: (payload: Buffer) => void,
    readonly log: Logger,
  ) {
    this.nextExpected = initialSeq;
  }

  now(): number {
    return (Date.now() - this.started) * 1000;
  }

  control(type: number, info: number, body?: Buffer, subtype = 0): void {
    this.send(controlPacket(type, subtype, info, this.now(), this.peerSocketId, body));
    this.lastSent = Date.now();
  }

  private lastTimestamp = 0;
  private timestampWraps = 0;

  /**
   * When a packet stamped `timestamp` (µs, sender clock) must be delivered (TSBPD, ms epoch).
   * Stamps wrap at 2^32 µs (about 71.6 minutes): each wrap adds 2^32 to the timeline.
   */
  private deadline(timestamp: number): number {
    const half = 2 ** 31;
    if (timestamp < this.lastTimestamp - half) this.timestampWraps++;
    else if (timestamp > this.lastTimestamp + half && this.timestampWraps > 0) {
      // A retransmission stamped just before the last wrap.
      return this.timeBase! + (timestamp + (this.timestampWraps - 1) * 2 ** 32) / 1000 + this.latencyMs;
    }
    this.lastTimestamp = timestamp;
    const unwrapped = timestamp + this.timestampWraps * 2 ** 32;
    this.timeBase ??= Date.now() - unwrapped / 1000;
    return this.timeBase + unwrapped / 1000 + this.latencyMs;
  }

  onData(packet: DataPacket): void {
    this.stats.packetsReceived++;
    this.stats.bytesReceived += packet.payload.length;
    if (packet.retransmitted) this.stats.packetsRetransmitted++;
    const distance = seqDiff(packet.seq, this.nextExpected);
    if (distance < 0 || this.buffer.has(packet.seq)) {
      this.stats.packetsDuplicate++;
      return;
    }
    if (distance >= maxBufferedPackets) {
      this.stats.packetsDropped++;
      return; // beyond what the receiver holds: the sender will resend after the ACK moves
    }
    this.lost.delete(packet.seq);
    const deadline = this.deadline(packet.timestamp);
    if (distance > 0) {
      // A gap: report it at once (immediate NAK), remember when each missing packet stops being useful.
      const newlyLost: number[] = [];
      for (let s = this.nextExpected; seqDiff(s, packet.seq) < 0; s = seqAdd(s, 1)) {
        if (!this.buffer.has(s) && !this.lost.has(s)) {
          this.lost.set(s, { deadline, reportedAt: Date.now() });
          newlyLost.push(s);
        }
      }
      if (newlyLost.length > 0) {
        this.stats.packetsLost += newlyLost.length;
        this.sendNak(newlyLost);
      }
    }
    this.buffer.set(packet.seq, { payload: Buffer.from(packet.payload), deadline });
    this.deliver();
  }

  /** Contiguous data goes out at once; data behind a gap waits until the gap's deadline passes. */
  private deliver(): void {
    for (;;) {
      const entry = this.buffer.get(this.nextExpected);
      if (!entry) return;
      this.buffer.delete(this.nextExpected);
      this.nextExpected = seqAdd(this.nextExpected, 1);
      this.deliverPayload(entry.payload);
    }
  }

  /** Too-late drop: a gap whose packets can no longer be played in time is skipped (ACKed past). */
  dropLate(now: number): void {
    if (this.buffer.size === 0) return;
    const deadline = this.lost.get(this.nextExpected)?.deadline;
    if (deadline === undefined || deadline > now) return;
    while (!this.buffer.has(this.nextExpected) && this.buffer.size > 0) {
      this.lost.delete(this.nextExpected);
      this.stats.packetsDropped++;
      this.nextExpected = seqAdd(this.nextExpected, 1);
    }
    this.deliver();
  }

  /** DROPREQ: the sender gave up on a range. */
  dropRange(first: number, last: number): void {
    for (let s = first; seqDiff(s, last) <= 0; s = seqAdd(s, 1)) {
      if (seqDiff(s, this.nextExpected) < 0) continue;
      this.lost.delete(s);
      if (s === this.nextExpected && !this.buffer.has(s)) {
        this.nextExpected = seqAdd(s, 1);
        this.stats.packetsDropped++;
      }
    }
    this.deliver();
  }

  private sendNak(seqs: number[]): void {
    const words: number[] = [];
    let i = 0;
    while (i < seqs.length) {
      let j = i;
      while (j + 1 < seqs.length && seqDiff(seqs[j + 1]!, seqs[j]!) === 1) j++;
      if (j > i) words.push((seqs[i]! | 0x80000000) >>> 0, seqs[j]!);
      else words.push(seqs[i]!);
      i = j + 1;
    }
    const body = Buffer.alloc(words.length * 4);
    words.forEach((w, k) => body.writeUInt32BE(w >>> 0, k * 4));
    this.control(controlType.nak, 0, body);
  }

  /** Bytes received at one-second marks over the last few seconds, for the current bitrate. */
  private readonly rateMarks: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: 0 }];

  /** The bitrate over the last ~5 s (since the start, for a younger connection). */
  bitrateKbps(now: number): number {
    const oldest = this.rateMarks[0]!;
    const seconds = Math.max(1, (now - oldest.at) / 1000);
    return Math.round(((this.stats.bytesReceived - oldest.bytes) * 8) / seconds / 1000);
  }

  /** Every 10 ms: a full ACK when there is news; the periodic NAK; late drops. */
  tick(now: number): void {
    if (now - this.rateMarks.at(-1)!.at >= 1000) {
      this.rateMarks.push({ at: now, bytes: this.stats.bytesReceived });
      if (this.rateMarks.length > 6) this.rateMarks.shift();
    }
    this.dropLate(now);
    if (this.nextExpected !== this.lastAckedSeq) this.sendAck();
    const nakPeriod = Math.max(20, (this.rttUs + 4 * this.rttVarUs) / 2000);
    // Each loss is reported again once a period has passed since its own last report: a timer
    // shared by all losses would be pushed back by every new loss and starve the old ones.
    // At most maxNakEntries per tick (oldest first), so one NAK fits a datagram; the rest follow.
    const due: number[] = [];
    for (const [seq, loss] of this.lost) {
      if (due.length >= maxNakEntries) break;
      if (now - loss.reportedAt < nakPeriod) continue;
      loss.reportedAt = now;
      due.push(seq);
    }
    if (due.length > 0) this.sendNak(due.sort((a, b) => seqDiff(a, b)));
    if (now - this.lastSent >= keepaliveMs) this.control(controlType.keepalive, 0, Buffer.alloc(4));
  }

  private sendAck(): void {
    const body = Buffer.alloc(28);
    body.writeUInt32BE(this.nextExpected, 0); // first not yet received: everything before is acknowledged
    body.writeUInt32BE(this.rttUs >>> 0, 4);
    body.writeUInt32BE(this.rttVarUs >>> 0, 8);
    body.writeUInt32BE(Math.max(2, maxBufferedPackets - this.buffer.size), 12); // real free space
    body.writeUInt32BE(0, 16);
    body.writeUInt32BE(0, 20);
    body.writeUInt32BE(0, 24);
    const number = this.ackNumber++;
    this.acksSent.set(number, Date.now());
    if (this.acksSent.size > 1000) this.acksSent.delete(number - 1000);
    this.control(controlType.ack, number, body);
    this.lastAckedSeq = this.nextExpected;
  }

  onControl(packet: ControlPacket): void {
    switch (packet.type) {
      case controlType.ackack: {
        const sent = this.acksSent.get(packet.info);
        if (sent === undefined) return;
        this.acksSent.delete(packet.info);
        const sample = (Date.now() - sent) * 1000;
        this.rttVarUs = Math.round((3 * this.rttVarUs + Math.abs(this.rttUs - sample)) / 4);
        this.rttUs = Math.round((7 * this.rttUs + sample) / 8);
        this.stats.rttMs = this.rttUs / 1000;
        this.stats.rttVarMs = this.rttVarUs / 1000;
        return;
      }
      case controlType.dropreq:
        if (packet.body.length >= 8) this.dropRange(packet.body.readUInt32BE(0), packet.body.readUInt32BE(4));
        return;
      case controlType.user:
        // Key refresh (KMREQ, subtype 3): install the announced key, answer with the same payload (KMRSP).
        if (packet.subtype === 3 && this.decryptor) {
          const km = parseKeyMaterial(packet.body);
          try {
            if (km) this.decryptor.install(km);
            this.stats.keyRefreshes++;
            this.control(controlType.user, 0, packet.body, 4);
          } catch {
            this.log.warn('a refreshed SRT key could not be unwrapped');
          }
        }
        return;
      default:
        return; // keepalives only refresh lastReceived
    }
  }

  /** Ends the connection; true the first time. */
  close(notifyPeer: boolean): boolean {
    if (this.closed) return false;
    this.closed = true;
    if (notifyPeer) this.control(controlType.shutdown, 0, Buffer.alloc(4));
    return true;
  }
}
