import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { healthCheck } from './api/health.js';
import { lockDataDir, prepareDataDir } from './catalog/data-dir.js';
import { RateLimiter } from './api/rate-limit.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTitleStages } from './actors/title.stages.js';
import { titleMachine } from './actors/title.machine.js';
import { TitleRegistry } from './actors/title.registry.js';
import { StreamRegistry } from './actors/stream.registry.js';
import { createArchiver } from './actors/stream.archive.js';
import { partHoldBack } from './pipeline/live/llhls-rules.js';
import { ffmpegThumbnailCutter } from './pipeline/live/thumbnail-cutter.js';
import { WeirMetrics } from './operator/metrics.js';
import { EventHub } from './operator/events.js';
import { BitrateMeter } from './operator/bitrate.js';
import { attachEventSocket } from './api/events-socket.js';
import { streamRoutes } from './api/routes/streams.js';
import { StreamCatalog } from './catalog/streams.js';
import { RtmpIngest } from './ingest/rtmp.js';
import { SrtListener } from './ingest/srt/listener.js';
import { fileURLToPath } from 'node:url';
import { createApp, registeredRoutes } from './api/app.js';
import { bearerOf, parseInput } from './api/http.js';
import { baseUrl, titleResource } from './api/resources.js';
import { playbackRoutes } from './api/routes/playback.js';
import { viewerRoutes } from './api/routes/viewers.js';
import { accessRoutes } from './api/routes/access.js';
import { ContentAccessStore } from './catalog/access.js';
import { discoveryRoutes } from './api/routes/discovery.js';
import { analyticsRoutes } from './api/routes/analytics.js';
import { QoeRecorder } from './analytics/qoe.js';
import { thumbnailsVttName, trickPlayDir } from './pipeline/manifest/trick-play.js';
import type { Lease } from './playback/leases.js';
import { DiscoveryCatalog, type Audience } from './discovery/catalog.js';
import { WatchHistory } from './discovery/history.js';
import { MetadataStore } from './discovery/metadata.js';
import { ArtworkStore, artworkKinds, type ArtworkKind } from './discovery/artwork.js';
import { SearchIndex } from './discovery/search.js';
import { firstRefusal } from './playback/access.js';
import type { Requester } from './playback/service.js';
import { systemClock } from './clock.js';
import { proxiedSystems } from './drm/routes.js';
import { CountryResolver } from './playback/geo.js';
import { LeaseTable } from './playback/leases.js';
import { deviceProfiles } from './playback/profiles.js';
import { PlaybackService } from './playback/service.js';
import { ViewerAccounts } from './viewers/accounts.js';
import { LoginThrottle } from './viewers/login-throttle.js';
import { defaultPlans } from './viewers/plans.js';
import { ViewerStore } from './viewers/store.js';
import { sourceUploadedBody, sourceUploadUrlBody, titleRoutes } from './api/routes/titles.js';
import { webhookRoutes } from './api/routes/webhooks.js';
import { openApiDocument } from './api/openapi/document.js';
import { operations } from './api/openapi/operations.js';
import { EncodeSlots } from './actors/encode-slots.js';
import { EncodeJobStore } from './catalog/encode-jobs.js';
import { WebhookDispatcher } from './operator/webhooks/dispatcher.js';
import { forwardToWebhooks, testEventType } from './operator/webhooks/events.js';
import { addressPolicy, httpSender } from './operator/webhooks/send.js';
import { WebhookStore } from './operator/webhooks/store.js';
import { databaseSecrets, openDatabase } from './catalog/database.js';
import { listenForChanges } from './catalog/postgres/changes.js';
import { ActorOwners } from './catalog/actor-owners.js';
import { openS3Store } from './storage/objects.js';
import { bucketImages } from './storage/images.js';
import { bucketTitleFiles, removeTitleMedia, titleMediaKey, uploadTitleMedia } from './storage/title-media.js';
import { liveWriteThrough } from './storage/live-segments.js';
import { SnapshotStore } from './catalog/snapshots.js';
import { TitleCatalog, type TitleProgressView } from './catalog/titles.js';
import type { Config } from './config.js';
import { mediaRoutes } from './delivery/media.js';
import { PlaybackTokens } from './delivery/tokens.js';
import { WeirError } from './errors.js';
import { createBucketUploadHandlers, createSourcePutHandler, createTusServer, removeAbandonedUploads } from './ingest/upload.js';
import { logSecrets, type Logger } from './logger.js';
import { locateMediaTools } from './pipeline/encode/ffmpeg.js';
import { loadOrCreateSecret, secretsEqual, textSealer } from './secrets.js';
import { KeyStore } from './catalog/keys.js';
import { LocalKeySource, parseMasterKey, type Protection } from './drm/keys.js';
import { keyRoutes } from './drm/routes.js';
import { CpixKeySource } from './drm/cpix.js';
import { posterName, stillName, titlePaths } from './layout.js';

export type RunningServer = {
  httpPort: number;
  /** The metrics port, when metrics have one of their own. */
  metricsPort: number | null;
  rtmpPort: number;
  srtPort: number;
  url: string;
  adminToken: string;
  /** Whether the admin token was generated by this start (and so printed). */
  adminTokenCreated: boolean;
  /** ('change', titleId, view) after every persisted title transition: for live events and tests. */
  titleEvents: import('node:events').EventEmitter;
  /** ('change', streamId, view) after every persisted stream transition. */
  streamEvents: import('node:events').EventEmitter;
  /** The routes the HTTP app registers (Express patterns), for the check against the OpenAPI document. */
  routes: { method: string; path: string }[];
  stop(): Promise<void>;
};

export type StartOptions = {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
};

/** The built admin UI: dist/admin, under dist/ from a checkout's src, or beside dist/src when built. */
function adminUiDirectory(): string | null {
  for (const candidate of ['../dist/admin/', '../admin/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    // Built output has its bundles in assets/ (the sources in admin/ do not).
    if (existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'assets'))) return dir;
  }
  return null;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`HTTP port ${port} on ${host} is already in use; choose another with --http-port or WEIR_HTTP_PORT (0 picks a free one).`)
          : error,
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** The composition root: builds every part from the configuration, starts them, and stops them in order. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config, log } = options;
  const env = options.env ?? process.env;
  prepareDataDir(config.dataDir);
  // Nothing in the data dir is read or written before this process holds it alone.
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLocked(config, log, env, lock.release);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(config: Config, log: Logger, env: NodeJS.ProcessEnv, releaseLock: () => void): Promise<RunningServer> {
  const secrets = logSecrets(log);

  const adminSecret = env.WEIR_ADMIN_TOKEN ? { value: env.WEIR_ADMIN_TOKEN, created: false } : loadOrCreateSecret(config.dataDir, 'admin-token');
  const tokenSecret = env.WEIR_TOKEN_SECRET ? { value: env.WEIR_TOKEN_SECRET, created: false } : loadOrCreateSecret(config.dataDir, 'playback-token-secret');
  const viewerSecret = env.WEIR_VIEWER_TOKEN_SECRET ? { value: env.WEIR_VIEWER_TOKEN_SECRET, created: false } : loadOrCreateSecret(config.dataDir, 'viewer-token-secret');
  const tools = locateMediaTools(env);
  for (const value of [adminSecret.value, tokenSecret.value, viewerSecret.value, env.WEIR_MASTER_KEY, env.WEIR_CPIX_AUTHORIZATION, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, ...databaseSecrets(config.database.url)]) if (value) secrets.add(value);
  const clock = systemClock;

  const masterKey = env.WEIR_MASTER_KEY
    ? parseMasterKey(env.WEIR_MASTER_KEY)
    : Buffer.from(loadOrCreateSecret(config.dataDir, 'master-key').value, 'base64url');
  const db = openDatabase(config.dataDir, { url: config.database.url, applicationName: 'weir server' });
  const keys = new KeyStore(db, masterKey);
  // Keys come from a commercial DRM service over CPIX when configured, else Weir makes them.
  const keySource = config.drm.cpixUrl
    ? new CpixKeySource({ url: config.drm.cpixUrl, authorization: env.WEIR_CPIX_AUTHORIZATION || undefined, systemIds: config.drm.cpixSystemIds })
    : new LocalKeySource();
  const catalog = new TitleCatalog(db);
  const snapshots = new SnapshotStore(db);
  const tokens = new PlaybackTokens(tokenSecret.value);

  // The service layer: viewers and their plans, who may watch what, playback sessions as leases.
  const viewerStore = new ViewerStore(db);
  viewerStore.seedPlans(defaultPlans, clock.now());
  const accounts = new ViewerAccounts({
    store: viewerStore,
    throttle: new LoginThrottle({
      perAccount: config.viewers.loginFailuresPerAccount,
      perAddress: config.viewers.loginFailuresPerAddress,
      windowMs: config.viewers.loginWindowMinutes * 60_000,
      clock,
    }),
    clock,
    secret: viewerSecret.value,
    accessTtlSeconds: config.viewers.accessTokenSeconds,
    refreshTtlSeconds: config.viewers.refreshTokenDays * 86_400,
  });
  // Discovery's read model is told of each content whose rules or metadata change (it is made below).
  const discoveryChanged = { of: (_contentId: string): void => {} };
  const contentAccess = new ContentAccessStore(db, { packages: config.playback.defaultPackages, availableFrom: null, availableUntil: null, geo: null, rating: null }, (id) => discoveryChanged.of(id));
  const leases = new LeaseTable(db, { clock, heartbeatSeconds: config.playback.heartbeatSeconds });
  const profiles = deviceProfiles(config.playback.deviceProfiles);
  const restoredLeases = leases.restore();
  if (restoredLeases > 0) log.info({ sessions: restoredLeases }, 'restored playback sessions');
  const playback = new PlaybackService({
    leases,
    tokens,
    viewers: {
      entitlement: (viewerId, now) => accounts.entitlement(viewerId, now),
      hasRental: (viewerId, contentId, now) => viewerStore.hasRental(viewerId, contentId, now),
      plans: () => viewerStore.plans(),
      device: (viewerId, deviceId) => viewerStore.device(viewerId, deviceId),
    },
    accessOf: (contentId) => contentAccess.get(contentId),
    profiles,
    ratings: config.playback.ratings,
    unknownCountry: config.playback.geo.unknownCountry,
    clock,
  });
  const countries = new CountryResolver({ countryHeader: config.playback.geo.countryHeader, trustedProxies: config.playback.geo.trustedProxies, ranges: config.playback.geo.ranges });
  const licenseSystems = proxiedSystems.filter((system) => config.drm.licenseServers[system] !== '');
  const metadata = new MetadataStore(db);
  // Object storage: every ready title's set and all catalog art are copied to the bucket, and any node serves them from there.
  const objects = config.storage.kind === 's3' ? await openS3Store(config.storage.s3, env) : null;
  const sharedImages = objects ? bucketImages(objects, config.storage.s3.delivery, config.storage.s3.signedUrlSeconds) : null;
  // Catalog art in every size some device profile names.
  const artwork = new ArtworkStore(db, {
    dir: join(config.dataDir, 'artwork'),
    ffmpeg: tools.ffmpeg,
    log: log.child({ component: 'artwork' }),
    sizes: Object.fromEntries(artworkKinds.map((kind) => [kind, [...new Set(Object.values(profiles).map((profile) => profile.artwork[kind]))]])) as Record<ArtworkKind, string[]>,
    shared: sharedImages,
  });
  const watchHistory = new WatchHistory(db, { now: () => clock.now(), heartbeatSeconds: config.playback.heartbeatSeconds });

  // What operators are told as it happens (the WebSocket at /v1/events).
  const events = new EventHub({ replay: config.events.replay, now: () => clock.now() });
  /** Each broadcast on air with its ingest and part counts (metrics and ingest events read them). */
  const onAir = () =>
    streamCatalog.all().flatMap((stream) => {
      const broadcast = streams.isPlayable(stream.id) ? streams.broadcast(stream.id) : undefined;
      if (!broadcast) return [];
      const renditions = broadcast.allRenditions();
      return [{ streamId: stream.id, bytesIn: broadcast.bytesIn, partsPublished: renditions.reduce((sum, r) => sum + r.partsPublished, 0), lateParts: renditions.reduce((sum, r) => sum + r.lateParts, 0) }];
    });
  // Webhooks: events become outbox messages at once (in the catalog), sent after, with retries.
  const webhookStore = new WebhookStore(db, textSealer(masterKey));
  const webhookAddresses = addressPolicy(config.webhooks.allowedAddresses);
  const webhooks = new WebhookDispatcher({
    store: webhookStore,
    send: httpSender({ allowed: webhookAddresses, timeoutMs: config.webhooks.timeoutSeconds * 1000, userAgent: 'Weir-Webhooks/1' }),
    now: () => clock.now(),
    log: log.child({ component: 'webhooks' }),
    concurrency: config.webhooks.concurrency,
    maxAttempts: config.webhooks.maxAttempts,
    retryBaseMs: config.webhooks.retryBaseMs,
    maxRetryMs: config.webhooks.maxRetryMinutes * 60_000,
    onAttempt: (outcome) => metrics.webhookAttempt(outcome),
  });
  const stopForwarding = forwardToWebhooks(events, (type, data) => webhooks.enqueue(type, data));
  const encodeSlots = new EncodeSlots(config.encode.concurrency);
  const encodeJobs = new EncodeJobStore(db);
  // Metrics read their sources when scraped; the sources below are made further down.
  const metrics = new WeirMetrics({
    encodes: () => {
      if (config.encode.workers === 'in-process') return { running: encodeSlots.active, queued: encodeSlots.queued };
      const counts = encodeJobs.countsByState();
      return { running: counts.get('running') ?? 0, queued: counts.get('queued') ?? 0 };
    },
    webhooksPending: () => webhookStore.pendingCount(),
    sessionsByFamily: () => leases.runningByFamily(),
    streamsByState: () => {
      const counts = new Map<string, number>();
      for (const stream of streamCatalog.all()) {
        const state = streams.state(stream.id) ?? 'unknown';
        counts.set(state, (counts.get(state) ?? 0) + 1);
      }
      return counts;
    },
    titlesByState: () => catalog.countByState(),
    broadcasts: () => onAir(),
    srtConnections: () =>
      streamCatalog.all().flatMap((stream) => {
        const session = streams.publisherSession(stream.id);
        const stats = session?.startsWith('srt-') ? srt.statsOf(Number(session.slice(4))) : undefined;
        return stats ? [{ streamId: stream.id, ...stats }] : [];
      }),
  });
  const stages = createTitleStages({
    publishMedia: objects
      ? async (titleId, mediaDir) => {
          const files = await uploadTitleMedia(objects, titleId, mediaDir);
          log.info({ titleId, files, bucket: config.storage.s3.bucket }, 'published the title to the bucket');
        }
      : undefined,
    dataDir: config.dataDir,
    keys,
    keySource,
    tools,
    encode: { preset: config.encode.preset, segmentSeconds: config.packaging.segmentSeconds, threads: config.encode.threads },
    log,
    slots: encodeSlots,
    externalQueue: config.encode.workers === 'external' ? { jobs: encodeJobs, pollMs: 250 } : undefined,
    onEncodeFinished: (outcome, ms) => metrics.encodeFinished(outcome, ms),
  });
  // Several nodes on one PostgreSQL catalog: each actor runs on one node, which renews its hold.
  const nodeId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const owners = db.engine === 'postgres' ? new ActorOwners(db, nodeId, config.database.nodeLeaseSeconds * 1000) : null;
  owners?.renew(Date.now()); // alive before its first claim, so no other node takes what it restores
  const registry = new TitleRegistry({
    ownership: owners,
    machine: titleMachine.provide({ actors: stages }),
    catalog,
    snapshots,
    dataDir: config.dataDir,
    log,
    limits: { maxEncodeAttempts: config.encode.maxAttempts, retryBaseMs: config.encode.retryBaseMs },
    onDeleted: (titleId) => {
      encodeJobs.remove(titleId);
      keys.remove(titleId);
      contentAccess.remove(titleId);
      metadata.remove(titleId);
      artwork.remove(titleId);
      if (objects) removeTitleMedia(objects, titleId).catch((error: unknown) => log.warn({ titleId, err: error }, 'could not remove the title from the bucket; its objects stay'));
    },
  });
  const restored = registry.restoreAll();
  if (restored > 0) log.info({ titles: restored }, 'restored title actors');

  secrets.add(masterKey.toString('base64url'));
  const streamCatalog = new StreamCatalog(db, textSealer(masterKey), secrets);
  const liveCopies = objects ? liveWriteThrough(objects, log) : null;
  const streams = new StreamRegistry({
    ownership: owners,
    segmentSink: liveCopies?.sink,
    catalog: streamCatalog,
    snapshots,
    dataDir: config.dataDir,
    log,
    timing: { partTargetSeconds: config.live.partTargetMs / 1000, segmentTargetSeconds: config.live.segmentSeconds },
    dvrWindowSeconds: config.live.dvrWindowSeconds,
    stallTimeoutMs: config.live.stallTimeoutSeconds * 1000,
    ffmpeg: tools.ffmpeg,
    ladderPreset: config.live.ladderPreset,
    hlsAudio: config.live.hlsAudio,
    thumbnails: config.live.thumbnailSeconds > 0 ? { intervalMs: config.live.thumbnailSeconds * 1000, tileWidth: 320, cut: ffmpegThumbnailCutter(tools.ffmpeg) } : null,
    keys,
    keySource,
    archive: createArchiver({ titles: catalog, titleActors: registry, dataDir: config.dataDir, ffmpeg: tools.ffmpeg, log }),
  });
  const restoredStreams = streams.restoreAll();
  if (restoredStreams > 0) log.info({ streams: restoredStreams }, 'restored stream actors');
  const rtmp = new RtmpIngest({
    host: config.http.host,
    port: config.rtmp.port,
    dataDir: config.dataDir,
    log,
    authority: streams,
    limits: {
      maxMessageBytes: config.rtmp.maxMessageBytes,
      maxChunkStreams: config.rtmp.maxChunkStreams,
      handshakeTimeoutMs: config.rtmp.handshakeTimeoutSeconds * 1000,
      publishTimeoutMs: config.rtmp.publishTimeoutSeconds * 1000,
      maxPendingPerAddress: config.rtmp.maxPendingPerAddress,
      maxPending: config.rtmp.maxPending,
    },
  });
  let rtmpPort = 0;
  const srt = new SrtListener({ host: config.http.host, port: config.srt.port, latencyMs: config.srt.latencyMs, log: log.child({ component: 'srt' }), authority: streams });
  let srtPort = 0;

  let stopping = false;
  const uploadTarget = registry.uploadTarget(() => stopping);
  const uploadDeps = { dataDir: config.dataDir, maxBytes: config.upload.maxBytes, target: uploadTarget, log };
  const putSource = createSourcePutHandler(uploadDeps);
  const bucketUpload = createBucketUploadHandlers({ ...uploadDeps, bucket: objects, signedSeconds: config.storage.s3.signedUrlSeconds, partBytes: config.upload.partBytes });
  const isPlayable = (contentId: string) => registry.ready.has(contentId) || streams.isPlayable(contentId);
  // A title's protection is fixed at creation: read it once (session starts and MPDs ask often).
  const titleProtection = new Map<string, Protection>();
  const protectionOf = (id: string): Protection => {
    const known = titleProtection.get(id);
    if (known) return known;
    const title = catalog.get(id);
    if (title) {
      if (titleProtection.size >= 100_000) titleProtection.clear();
      titleProtection.set(id, title.protection);
      return title.protection;
    }
    return streamCatalog.get(id)?.protection ?? 'none';
  };
  // Discovery: what devices browse, rebuilt when titles become ready (or stop being), streams go
  // on or off air, or access rules or metadata change.
  const readySeen = new Set(registry.ready);
  /** A ready title without art gets it cut from its published still (in the background, one at a time). */
  const artFor = (titleId: string) => {
    if (artwork.images(titleId).length > 0) return;
    const media = titlePaths(config.dataDir, titleId).media;
    const still = [stillName, posterName].map((name) => join(media, name)).find((path) => existsSync(path));
    if (!still) return;
    artwork.generate(titleId, still, 'generated').catch((error: unknown) => log.warn({ titleId, err: error }, 'artwork could not be cut'));
  };
  for (const id of registry.ready) artFor(id);
  registry.events.on('change', (id: string) => {
    if (registry.ready.has(id) === readySeen.has(id)) return;
    if (registry.ready.has(id)) {
      readySeen.add(id);
      artFor(id);
    } else readySeen.delete(id);
    discovery.changed(id);
  });
  /**
   * A live stream without art gets it cut from its picture when it goes live: a full-size still
   * of the newest keyframe (in the background; the cut is awaited at shutdown).
   */
  const liveArt = new Map<string, Promise<void>>();
  const liveArtFor = (streamId: string) => {
    const thumbnails = streams.broadcast(streamId)?.thumbnails;
    if (!thumbnails || liveArt.has(streamId) || !streams.isPlayable(streamId) || artwork.images(streamId).length > 0) return;
    const still = join(config.dataDir, `.live-still-${streamId}.jpg`); // a server-made id, never client input
    const cut = thumbnails
      .still()
      .then(async (jpeg) => {
        if (!jpeg || stopping) return;
        await writeFile(still, jpeg);
        await artwork.generate(streamId, still, 'generated');
      })
      .catch((error: unknown) => log.warn({ streamId, err: error }, 'live stream artwork could not be cut'))
      .finally(() => rm(still, { force: true }).finally(() => liveArt.delete(streamId)));
    liveArt.set(streamId, cut);
  };
  // A view of null: the stream or title was deleted.
  streams.events.on('change', (id: string, view: { state: string } | null) => {
    liveArtFor(id);
    discovery.changed(id);
    if (view) {
      events.publish('streams', 'stream.changed', { id, state: view.state });
      return;
    }
    events.publish('streams', 'stream.removed', { id });
    // What other stores hold of a deleted stream goes with it, as a title's does (onDeleted above).
    contentAccess.remove(id);
    metadata.remove(id);
    artwork.remove(id);
    liveCopies?.remove(id).catch((error: unknown) => log.warn({ streamId: id, err: error }, 'could not remove the stream from the bucket; its objects stay'));
  });
  registry.events.on('change', (id: string, view: TitleProgressView | null) => {
    if (view) events.publish('titles', 'title.changed', { id, state: view.state, progress: view.progress, error: view.error });
    else events.publish('titles', 'title.removed', { id });
  });
  const discovery = new DiscoveryCatalog({
    content: () => [
      ...streamCatalog
        .all()
        .filter((stream) => streams.isPlayable(stream.id))
        .map((stream) => ({ kind: 'live-stream' as const, id: stream.id, name: stream.name, createdAt: stream.createdAt, durationMs: null })),
      ...catalog.discoverable().map((title) => ({ kind: 'title' as const, ...title })),
    ],
    metadata,
    search: new SearchIndex(db),
    history: watchHistory,
    contentOf: (id) => {
      const title = catalog.get(id);
      if (title) return title.state === 'ready' ? { kind: 'title', id, name: title.title, createdAt: title.createdAt, durationMs: title.facts?.durationMs ?? null } : null;
      const stream = streamCatalog.get(id);
      return stream && streams.isPlayable(id) ? { kind: 'live-stream', id, name: stream.name, createdAt: stream.createdAt, durationMs: null } : null;
    },
    window: (id) => {
      const access = contentAccess.get(id);
      return { from: access.availableFrom, until: access.availableUntil };
    },
    ratingOf: (id) => contentAccess.get(id).rating,
    now: () => clock.now(),
  });
  discoveryChanged.of = (id) => discovery.changed(id);
  metadata.onContentChange = (id) => discovery.changed(id);
  // Several nodes on one PostgreSQL catalog: what another node changes reaches this one's memory at once.
  const catalogChanges = config.database.url
    ? listenForChanges({
        url: config.database.url,
        log,
        onChange: (table, key) => {
          if (table === 'viewers' || table === 'rentals') viewerStore.forgetViewer(key);
          else if (table === 'viewer_devices') viewerStore.forgetDevice(key);
          else if (table === 'plans') viewerStore.forgetPlan(key);
          else if (table === 'content_metadata') metadata.reload(key);
          else if (table === 'series' || table === 'collections') metadata.forget('series-and-collections');
          else if (table === 'content_access') {
            contentAccess.forget(key);
            discovery.changed(key);
          } else if (table === 'titles') {
            registry.followCatalog(key);
            discovery.changed(key);
          } else if (table === 'artwork') {
            artwork.forget(key);
            discovery.changed(key);
          } else if (table === 'live_streams') discovery.changed(key);
        },
        onResync: () => {
          viewerStore.forgetAll();
          contentAccess.forget();
          metadata.forget('all');
          artwork.forget();
          for (const id of new Set([...catalog.readyIds(), ...registry.ready])) registry.followCatalog(id);
        },
      })
    : null;
  const accessRules = { plans: () => viewerStore.plans(), ratings: config.playback.ratings, unknownCountry: config.playback.geo.unknownCountry };
  const noRentals: ReadonlySet<string> = new Set();
  /** Who sees the same catalog as this requester: the same plan packages, rating limit and country. */
  const audienceOf = (requester: Requester, country: string | null): Audience => {
    if (requester.kind === 'admin') return { key: 'admin', allows: () => true, rentals: noRentals };
    if (requester.kind === 'anonymous') {
      return { key: `anonymous|${country ?? ''}`, allows: (id, now) => firstRefusal({ ...accessRules, access: contentAccess.get(id), viewer: null, country, now }) === null, rentals: noRentals };
    }
    const now = clock.now();
    const standing = accounts.entitlement(requester.viewerId, now);
    if (!standing) throw new WeirError('VIEWER_TOKEN_INVALID', 'The viewer of this access token no longer exists; sign in again.');
    const packages = standing.subscribed && standing.plan ? standing.plan.packages : [];
    const maxRating = standing.viewer.maxRating;
    const rentals = new Set(viewerStore.rentals(requester.viewerId).filter((r) => r.startsAt <= now && now < r.endsAt).map((r) => r.contentId));
    return {
      key: `viewer|${[...packages].sort().join(',')}|${maxRating ?? ''}|${country ?? ''}`,
      allows: (id, at, withRentals) => firstRefusal({ ...accessRules, access: contentAccess.get(id), viewer: { packages, rented: () => withRentals && rentals.has(id), maxRating }, country, now: at }) === null,
      rentals,
    };
  };
  // Whether a title published trick-play thumbnails: fixed once it is ready, read once.
  const titleThumbnails = new Map<string, boolean>();
  const qoe = new QoeRecorder(db, { now: () => clock.now(), heartbeatSeconds: config.playback.heartbeatSeconds });
  /** A viewer's heartbeat or stop becomes a resume point and watch time. */
  const watched = (lease: Lease, ended: boolean) => {
    if (lease.viewerId === null) return;
    const item = discovery.current().items.get(lease.contentId);
    watchHistory.report({ sessionId: lease.id, viewerId: lease.viewerId, contentId: lease.contentId, positionMs: lease.positionMs, state: lease.state, durationMs: item?.durationMs ?? null, ended });
  };
  const countryOf = (req: import('express').Request) => countries.countryOf(req.socket.remoteAddress ?? '', req.ip ?? '', (name) => req.header(name));
  const contentState = (contentId: string) => catalog.get(contentId)?.state ?? streamCatalog.get(contentId)?.state ?? null;
  const adminToken = adminSecret.value;
  // A ready title's video rendition heights, for capped sessions: read once, dropped when the title changes.
  const heightsByTitle = new Map<string, ReadonlyMap<string, number>>();
  registry.events.on('change', (titleId: string) => heightsByTitle.delete(titleId));
  const titleHeights = (titleId: string): ReadonlyMap<string, number> => {
    let heights = heightsByTitle.get(titleId);
    if (!heights) {
      const renditions = catalog.get(titleId)?.renditions ?? [];
      heights = new Map(renditions.flatMap((r) => (r.kind === 'video' && r.height !== null ? [[r.id, r.height] as const] : [])));
      heightsByTitle.set(titleId, heights);
    }
    return heights;
  };
  const authorize = (token: string, contentId: string) => playback.authorize(token, contentId);
  const tus = createTusServer({
    ...uploadDeps,
    abandonedAfterMs: config.upload.abandonedAfterHours * 3_600_000,
    authorize: (header) => {
      const given = bearerOf(header);
      return given !== null && secretsEqual(given, adminToken) ? null : new WeirError('ADMIN_AUTH_REQUIRED', 'Uploads need "Authorization: Bearer <admin token>".');
    },
  });

  const app = createApp({
    log,
    adminToken,
    health: healthCheck({ db, tools, isStopping: () => stopping }),
    titles: titleRoutes({ catalog, registry, publicUrl: config.http.publicUrl, isStopping: () => stopping, hasSource: (id) => existsSync(titlePaths(config.dataDir, id).source) }),
    playback: playbackRoutes({
      service: playback,
      accounts,
      isPlayable,
      contentState,
      protectionOf,
      countryOf,
      licenseSystems,
      observer: {
        started: (lease) => {
          const planId = lease.viewerId === null ? null : (accounts.entitlement(lease.viewerId, lease.startedAt)?.plan?.id ?? null);
          events.publish('sessions', 'session.started', { id: lease.id, contentId: lease.contentId, viewerId: lease.viewerId, family: lease.device?.family ?? null, planId });
          qoe.started({ id: lease.id, contentId: lease.contentId, viewerId: lease.viewerId, family: lease.device?.family ?? null, planId, startedAt: lease.startedAt });
        },
        heartbeat: (lease, report) => {
          watched(lease, false);
          qoe.heartbeat(lease.id, report);
        },
        ended: (lease) => {
          watched(lease, true);
          qoe.ended(lease.id);
          events.publish('sessions', 'session.ended', { id: lease.id, contentId: lease.contentId, viewerId: lease.viewerId, family: lease.device?.family ?? null });
        },
      },
      hasThumbnails: (id) => {
        const known = titleThumbnails.get(id);
        if (known !== undefined) return known;
        const remember = (has: boolean) => {
          if (titleThumbnails.size >= 100_000) titleThumbnails.clear();
          titleThumbnails.set(id, has);
          return has;
        };
        const local = existsSync(join(titlePaths(config.dataDir, id).media, trickPlayDir, thumbnailsVttName));
        if (local || !objects) return remember(local);
        // Published by another node: the bucket holds every ready title's set. Asked once per title;
        // a bucket that does not answer leaves the question open for the next session.
        return objects.size(titleMediaKey(id, `${trickPlayDir}/${thumbnailsVttName}`)).then(
          (size) => remember(size !== null),
          () => false,
        );
      },
      resumeAt: (viewerId, contentId) => {
        const entry = watchHistory.entry(viewerId, contentId);
        return entry && !entry.finished && entry.positionMs > 0 ? entry.positionMs : null;
      },
      playableContent: () => [
        ...streamCatalog.all().filter((stream) => streams.isPlayable(stream.id)).map((stream) => ({ id: stream.id, kind: 'live-stream' as const, name: stream.name, protection: stream.protection })),
        ...catalog.listReady(500).map((title) => ({ id: title.id, kind: 'title' as const, name: title.title, protection: title.protection })),
      ],
      publicUrl: config.http.publicUrl,
      limiter: new RateLimiter({ perMinute: config.playback.sessionsPerMinutePerAddress }),
      adminToken,
      liveTiming: (id) =>
        streams.broadcast(id)
          ? { partTargetSeconds: config.live.partTargetMs / 1000, partHoldBackSeconds: partHoldBack(config.live.partTargetMs / 1000), segmentSeconds: config.live.segmentSeconds }
          : null,
    }),
    viewers: viewerRoutes({ accounts, adminToken, selfSignUp: config.viewers.selfSignUp, clock }),
    analytics: analyticsRoutes({ qoe, clock }),
    webhooks: webhookRoutes({ store: webhookStore, allowed: webhookAddresses, sendTest: (id) => webhooks.enqueue(testEventType, { endpointId: id }, id)[0]!, changed: () => webhooks.wake(), clock }),
    discovery: discoveryRoutes({
      catalog: discovery,
      metadata,
      accounts,
      adminToken,
      countryOf,
      audienceOf,
      refusal: (id, requester, country) => playback.refusal(id, requester, country),
      kindOf: (id) => (catalog.get(id) ? 'title' : streamCatalog.get(id) ? 'live-stream' : null),
      clock,
      artwork,
      bucketImages: sharedImages,
      profiles,
    }),
    access: accessRoutes({
      access: contentAccess,
      clock,
      kindOf: (id) => (catalog.get(id) ? 'title' : streamCatalog.get(id) ? 'live-stream' : null),
      ratings: config.playback.ratings,
    }),
    keys: keyRoutes({
      authorize,
      isPlayable,
      contentKeys: (id) => keys.all(id),
      licenseServers: config.drm.licenseServers,
      upstreamTimeoutMs: config.drm.licenseTimeoutSeconds * 1000,
    }),
    media: mediaRoutes({
      authorize,
      titleHeights,
      isPlayable,
      mediaDir: (id) => titlePaths(config.dataDir, id).media,
      protectionOf,
      liveBroadcast: (id) => streams.broadcast(id),
      observeCmcd: (sessionId, report) => qoe.cmcd(sessionId, report),
      bucketFiles: objects ? bucketTitleFiles(objects, config.storage.s3.delivery, config.storage.s3.signedUrlSeconds) : null,
      liveSettings: {
        partTargetSeconds: config.live.partTargetMs / 1000,
        segmentTargetSeconds: config.live.segmentSeconds,
        windowSeconds: config.live.dvrWindowSeconds,
        utcTimingPath: '/time',
        observer: metrics,
      },
    }),
    streams: streamRoutes({
      catalog: streamCatalog,
      registry: streams,
      publicUrl: config.http.publicUrl,
      rtmpPort: () => rtmpPort,
      srtPort: () => srtPort,
      ingestStats: (id) => {
        const session = streams.publisherSession(id);
        return session?.startsWith('srt-') ? (srt.statsOf(Number(session.slice(4))) ?? null) : null;
      },
      defaultReconnectWindowSeconds: config.live.reconnectWindowSeconds,
    }),
    sourcePut: async (req, res) => {
      await putSource(req, res);
      res.status(202).json(titleResource(catalog.get(String(req.params.id))!, baseUrl(req, config.http.publicUrl)));
    },
    sourceUploadUrl: (req, res) => bucketUpload.uploadUrl(req, res, parseInput(sourceUploadUrlBody, req.body ?? {}, 'upload body')),
    sourceUploaded: async (req, res) => {
      await bucketUpload.uploaded(req, res, parseInput(sourceUploadedBody, req.body ?? {}, 'upload body'));
      res.status(202).json(titleResource(catalog.get(String(req.params.id))!, baseUrl(req, config.http.publicUrl)));
    },
    tus,
    adminUiDir: adminUiDirectory(),
    openApi: () => openApiDocument(operations(), { title: 'Weir', version: '1.0.0', description: 'Live and VOD media server: ingest, playback service, discovery, QoE and operations.' }),
    trustedProxies: config.http.trustedProxies,
    bodyTimeoutMs: config.http.bodyTimeoutSeconds * 1000,
    uploadIdleTimeoutMs: config.http.uploadIdleTimeoutSeconds * 1000,
    observeRequest: (method, route, status, seconds) => metrics.observeRequest(method, route, status, seconds),
    // On the main port behind the admin token, unless a port of its own is configured.
    metrics: config.metrics.port === null ? () => metrics.text() : undefined,
  });

  // Headers must arrive promptly (checked every second, not every 30 s). The total request time
  // stays unlimited here: bodies have per-route deadlines, uploads an idle timeout (see the app).
  const http = createServer(
    { headersTimeout: config.http.headersTimeoutSeconds * 1000, requestTimeout: 0, connectionsCheckingInterval: 1000, keepAliveTimeout: 5_000 },
    app,
  );
  // Metrics on a port of their own (for a scraper on a private network), when configured.
  const metricsHttp =
    config.metrics.port === null
      ? null
      : createServer((req, res) => {
          if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
            res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'This port serves GET /metrics only.' } }));
            return;
          }
          metrics.text().then(
            ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
            (error: unknown) => {
              log.error({ err: error }, 'metrics could not be collected');
              res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'INTERNAL', message: 'Metrics could not be collected; the server log has the details.' } }));
            },
          );
        });
  const eventSocket = attachEventSocket(http, { hub: events, adminToken, maxBufferedBytes: config.events.maxBufferedBytes, log: log.child({ component: 'events' }) });
  let httpPort: number;
  let metricsPort: number | null = null;
  try {
    rtmpPort = await rtmp.start();
    srtPort = await srt.start();
    httpPort = await listen(http, config.http.port, config.http.host);
    if (metricsHttp) metricsPort = await listen(metricsHttp, config.metrics.port!, config.metrics.host);
  } catch (error) {
    http.close();
    await rtmp.stop();
    await srt.stop();
    streams.stopAll();
    registry.stopAll();
    await catalogChanges?.stop();
    db.close();
    throw error;
  }
  const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
  const url = `http://${shownHost}:${httpPort}`;
  log.info({ httpPort, rtmpPort, srtPort, metricsPort, url, dataDir: config.dataDir, ...(owners ? { nodeId } : {}) }, 'weir is listening');
  void removeAbandonedUploads(tus, log);
  webhooks.start(); // messages left from before a restart are sent now
  const pruneTimer = setInterval(() => {
    webhookStore.prune(clock.now() - config.webhooks.logDays * 86_400_000);
    viewerStore.pruneRefresh(clock.now());
    leases.prune();
    watchHistory.prune(30);
    qoe.prune(90);
    void removeAbandonedUploads(tus, log);
  }, 3_600_000);
  pruneTimer.unref();
  // Heartbeats are written behind, every few seconds; expired leases are ended each interval.
  // A catalog that does not answer for a moment (PostgreSQL restarting) fails a write, which the
  // next pass tries again: logged at most once a minute, never taking the process down.
  let lastWriteFailure = 0;
  const retried = (what: string, work: () => unknown) => {
    try {
      work();
    } catch (error) {
      if (clock.now() - lastWriteFailure < 60_000) return;
      lastWriteFailure = clock.now();
      log.error({ err: error }, `${what} failed; trying again at the next pass`);
    }
  };
  const leaseTimer = setInterval(() => {
    retried('writing session renewals', () => leases.flush());
    retried('writing watch history', () => watchHistory.flush());
    retried('writing QoE sessions', () => qoe.flush());
  }, 5_000);
  leaseTimer.unref();
  const sweepTimer = setInterval(() => retried('ending lapsed sessions', () => leases.sweep()), config.playback.heartbeatSeconds * 1000);
  sweepTimer.unref();
  // This node's hold on its actors, renewed three times a lease; a node that died lets its lapse, and the others take its actors over.
  const ownerTimer = setInterval(() => {
    if (!owners || stopping) return;
    const now = Date.now();
    try {
      owners.renew(now);
      if (!owners.anyLapsed(now)) return;
      const titles = registry.restoreAll();
      const streamsTaken = streams.restoreAll();
      owners.purgeLapsed(now);
      if (titles + streamsTaken > 0) log.warn({ titles, streams: streamsTaken }, 'took over the actors of a node that stopped renewing them');
    } catch (error) {
      log.error({ err: error }, 'could not renew or take over actors; trying again');
    }
  }, (config.database.nodeLeaseSeconds * 1000) / 3);
  ownerTimer.unref();
  // Live ingest statistics every 2 s, for each stream on air.
  const ingestMeter = new BitrateMeter();
  const ingestTimer = setInterval(() => {
    const live = onAir();
    const bitrates = ingestMeter.read(live, clock.now());
    for (const { streamId, bytesIn, partsPublished } of live) {
      events.publish('ingest', 'ingest.stats', { id: streamId, bytesIn, bitrate: bitrates.get(streamId) ?? null, partsPublished, publishing: streams.isPublishing(streamId) });
    }
  }, 2_000);
  ingestTimer.unref();

  return {
    httpPort,
    metricsPort,
    rtmpPort,
    srtPort,
    url,
    adminToken,
    adminTokenCreated: adminSecret.created,
    titleEvents: registry.events,
    streamEvents: streams.events,
    routes: registeredRoutes(app),
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(pruneTimer);
      clearInterval(leaseTimer);
      clearInterval(sweepTimer);
      clearInterval(ownerTimer);
      clearInterval(ingestTimer);
      stopForwarding();
      eventSocket.close();
      log.info('stopping: no new work, closing connections');
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      metricsHttp?.close();
      metricsHttp?.closeAllConnections();
      http.closeIdleConnections();
      const grace = setTimeout(() => http.closeAllConnections(), 3_000);
      // Snapshots are persisted on every transition; stopping the actors kills their ffmpeg runs.
      await rtmp.stop();
      await srt.stop();
      streams.stopAll();
      registry.stopAll();
      await closed;
      clearTimeout(grace);
      await Promise.all(liveArt.values());
      await webhooks.stop();
      await artwork.stop();
      await catalogChanges?.stop();
      leases.flush();
      watchHistory.flush();
      qoe.flush(true); // running sessions too: nothing of them is lost to a restart
      owners?.releaseAll(); // the other nodes may take this node's actors at once
      db.close();
      releaseLock();
      log.info('stopped');
    },
  };
}
