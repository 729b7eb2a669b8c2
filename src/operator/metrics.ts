import { BitrateMeter } from './bitrate.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the metrics read when scraped, declared here by their user; each answers from memory. */
export type MetricsSources = {
  /** Running playback sessions by device family. */
  sessionsByFamily(): ReadonlyMap<string, number>;
  /** Live streams by state (idle, live, reconnecting…). */
  streamsByState(): ReadonlyMap<string, number>;
  /** Titles by state (uploading, encoding, ready…). */
  titlesByState(): ReadonlyMap<string, number>;
  /** Each broadcast on air: bytes received from its publisher so far, and parts published and late over its renditions. */
  broadcasts(): { streamId: string; bytesIn: number; partsPublished: number; lateParts: number }[];
  /** Each SRT publisher connected now. */
  srtConnections(): { streamId: string; rttMs: number; packetsReceived: number; packetsLost: number; packetsRetransmitted: number; packetsDropped: number }[];
  /** Title encodes running now, and waiting for a slot. */
  encodes(): { running: number; queued: number };
  /** Webhook messages waiting in the outbox (retries included). */
  webhooksPending(): number;
};

/** Time buckets of HTTP answers and of blocking playlist answers, seconds. */
const httpBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Weir's Prometheus metrics, in a registry of its own (nothing global: two servers in one process
 * keep theirs apart). Gauges read their sources when scraped; counters and histograms are fed as
 * things happen. Labels never carry a token or a raw path: routes are Express patterns.
 */
export class WeirMetrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  private readonly blockingWaiting: Gauge;
  private readonly blockingAnswer: Histogram;
  private readonly encodeSeconds: Histogram;
  private readonly encodes: Counter<'outcome'>;
  private readonly webhookAttempts: Counter<'outcome'>;

  constructor(sources: MetricsSources, now: () => number = Date.now) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry }); // process, heap, GC and event-loop lag
    this.http = new Histogram({ name: 'weir_http_request_duration_seconds', help: 'HTTP answers by route pattern, method and status.', labelNames: ['method', 'route', 'status'], buckets: httpBuckets, registers });
    const gaugeOf = (name: string, help: string, label: string, read: () => ReadonlyMap<string, number>) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, count] of read()) this.set({ [label]: value }, count);
        },
      });
    gaugeOf('weir_playback_sessions', 'Running playback sessions (leases) by device family.', 'family', () => sources.sessionsByFamily());
    gaugeOf('weir_live_streams', 'Live streams by state.', 'state', () => sources.streamsByState());
    gaugeOf('weir_titles', 'Titles by state.', 'state', () => sources.titlesByState());
    const meter = new BitrateMeter();
    new Gauge({
      name: 'weir_live_ingest_bitrate_bits_per_second',
      help: "A live stream's ingest bitrate since the previous scrape (none at the first scrape of a broadcast).",
      labelNames: ['stream'],
      registers,
      collect() {
        this.reset();
        for (const [stream, bitrate] of meter.read(sources.broadcasts(), now())) if (bitrate !== null) this.set({ stream }, bitrate);
      },
    });
    /** A gauge per stream, read from one of the per-stream lists when scraped. */
    const perStream = <T extends { streamId: string }>(list: () => T[], name: string, help: string, read: (item: T) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['stream'],
        registers,
        collect() {
          this.reset();
          for (const item of list()) this.set({ stream: item.streamId }, read(item));
        },
      });
    const broadcasts = () => sources.broadcasts();
    perStream(broadcasts, 'weir_live_ingest_bytes', "Bytes received from a live stream's publisher in this broadcast.", (b) => b.bytesIn);
    perStream(broadcasts, 'weir_live_parts_published', 'LL-HLS parts published in this broadcast, over its renditions.', (b) => b.partsPublished);
    perStream(broadcasts, 'weir_live_parts_late', 'Parts published more than half a part later than their duration after the one before.', (b) => b.lateParts);
    const srt = (name: string, help: string, read: (c: ReturnType<MetricsSources['srtConnections']>[number]) => number) => perStream(() => sources.srtConnections(), name, help, read);
    srt('weir_srt_rtt_seconds', 'Round-trip time to an SRT publisher.', (c) => c.rttMs / 1000);
    srt('weir_srt_packets_received', 'Data packets received from an SRT publisher.', (c) => c.packetsReceived);
    srt('weir_srt_packets_lost', 'Data packets an SRT publisher lost on the way (found missing).', (c) => c.packetsLost);
    srt('weir_srt_packets_retransmitted', 'Retransmitted packets received from an SRT publisher.', (c) => c.packetsRetransmitted);
    srt('weir_srt_packets_dropped', 'Packets given up on (too late to play).', (c) => c.packetsDropped);
    new Gauge({ name: 'weir_srt_connections', help: 'SRT publishers connected now.', registers, collect() { this.set(sources.srtConnections().length); } });
    this.blockingWaiting = new Gauge({ name: 'weir_llhls_blocking_requests_waiting', help: 'LL-HLS blocking playlist requests waiting for a part.', registers });
    this.blockingAnswer = new Histogram({
      name: 'weir_llhls_blocking_answer_seconds',
      help: 'How long after the awaited part completed a blocking playlist request was answered.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.encodeSeconds = new Histogram({ name: 'weir_encode_duration_seconds', help: 'Title encodes that finished, by wall time.', buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600], registers });
    this.encodes = new Counter({ name: 'weir_encodes_total', help: 'Title encodes by outcome.', labelNames: ['outcome'], registers });
    new Gauge({ name: 'weir_encode_queue_length', help: 'Title encodes waiting for a slot (encode.concurrency run at once).', registers, collect() { this.set(sources.encodes().queued); } });
    new Gauge({ name: 'weir_encodes_running', help: 'Title encodes running now.', registers, collect() { this.set(sources.encodes().running); } });
    this.webhookAttempts = new Counter({
      name: 'weir_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome: delivered, failed (to be retried), gave_up (the last attempt failed).',
      labelNames: ['outcome'],
      registers,
    });
    new Gauge({ name: 'weir_webhook_messages_pending', help: 'Webhook messages waiting in the outbox, retries included.', registers, collect() { this.set(sources.webhooksPending()); } });
  }

  /** One HTTP answer: `route` is the matched pattern (or `unmatched`), never the path asked for. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.http.observe({ method, route, status: String(status) }, seconds);
  }

  blockingStarted(): void {
    this.blockingWaiting.inc();
  }

  /** A blocking request was answered; `latencyMs` after its part completed (null when it timed out). */
  blockingEnded(latencyMs: number | null): void {
    this.blockingWaiting.dec();
    if (latencyMs !== null) this.blockingAnswer.observe(Math.max(0, latencyMs) / 1000);
  }

  encodeFinished(outcome: 'encoded' | 'failed', ms: number): void {
    this.encodes.inc({ outcome });
    if (outcome === 'encoded') this.encodeSeconds.observe(ms / 1000);
  }

  webhookAttempt(outcome: 'delivered' | 'failed' | 'gave_up'): void {
    this.webhookAttempts.inc({ outcome });
  }

  /** The text a Prometheus server scrapes. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
