/**
 * Ingest bitrate per stream from its byte count, over the time since the stream's previous
 * reading. Streams absent from a reading are forgotten, so the map holds only streams on air.
 */
export class BitrateMeter {
  private readonly last = new Map<string, { bytes: number; at: number }>();

  /** Each stream's bits per second since its previous reading; null at its first (or if its count went back). */
  read(streams: readonly { streamId: string; bytesIn: number }[], at: number): Map<string, number | null> {
    const rates = new Map<string, number | null>();
    for (const { streamId, bytesIn } of streams) {
      const last = this.last.get(streamId);
      rates.set(streamId, last && at > last.at && bytesIn >= last.bytes ? Math.round(((bytesIn - last.bytes) * 8 * 1000) / (at - last.at)) : null);
      this.last.set(streamId, { bytes: bytesIn, at });
    }
    for (const id of this.last.keys()) if (!rates.has(id)) this.last.delete(id);
    return rates;
  }
}
