import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { deviceProfileSchema } from './playback/profiles.js';
import { deviceFamilies } from './viewers/plans.js';

const port = z.number().int().min(0).max(65535);

export const configSchema = z.strictObject({
  http: z.strictObject({
    host: z.string().min(1),
    port,
    /** Base URL players use to reach this server; empty means "from the request's Host". */
    publicUrl: z.union([z.literal(''), z.url()]),
    /** Proxies (addresses or CIDR ranges) whose X-Forwarded-* headers are believed; none by default. */
    trustedProxies: z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).max(100),
    /** A client must send its request headers within this time. */
    headersTimeoutSeconds: z.number().int().min(1).max(300),
    /** An API request body (not an upload) must arrive whole within this time. */
    bodyTimeoutSeconds: z.number().int().min(1).max(300),
    /** An upload may go on for hours, but not stall for longer than this. */
    uploadIdleTimeoutSeconds: z.number().int().min(1).max(3600),
  }),
  rtmp: z.strictObject({
    port,
    /** The largest RTMP message accepted from a publisher (a 4K keyframe fits many times over). */
    maxMessageBytes: z.number().int().min(64 * 1024).max(64 * 1024 * 1024),
    /** Chunk streams one connection may open (encoders use four to six). */
    maxChunkStreams: z.number().int().min(4).max(256),
    /** The RTMP handshake must finish within this time. */
    handshakeTimeoutSeconds: z.number().int().min(1).max(60),
    /** A connection that has not started publishing by then is closed. */
    publishTimeoutSeconds: z.number().int().min(1).max(300),
    /** Connections not yet publishing, per client address and in all. */
    maxPendingPerAddress: z.number().int().min(1).max(1000),
    maxPending: z.number().int().min(1).max(10_000),
  }),
  srt: z.strictObject({ port, latencyMs: z.number().int().min(20).max(8000) }),
  dataDir: z.string().min(1),
  database: z.strictObject({
    /** postgres://user:password@host:port/db keeps the catalog on PostgreSQL (shared by several nodes); null keeps it in SQLite in the data dir. */
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL')
      .nullable(),
    /** With several nodes: how long a node's hold on its actors lasts unless renewed; a node silent this long has its actors taken over. */
    nodeLeaseSeconds: z.number().int().min(2).max(300),
  }),
  storage: z.strictObject({
    /** local: published media stays in the data dir; s3: ready titles are also copied to a bucket, from which any node serves them. */
    kind: z.enum(['local', 's3']),
    s3: z.strictObject({
      /** An S3-compatible endpoint; null for AWS itself. Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). */
      endpoint: z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL').nullable(),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
      region: z.string().min(1).max(64),
      forcePathStyle: z.boolean(),
      /** Prepended to every key (several deployments in one bucket). */
      prefix: z.string().max(200).regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty, or path parts each ending in /'),
      /** proxy: the origin streams files from the bucket (with ranges); redirect: players are sent to signed URLs for media files. */
      delivery: z.enum(['proxy', 'redirect']),
      signedUrlSeconds: z.number().int().min(10).max(86_400),
    }),
  }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }),
  upload: z.strictObject({
    maxBytes: z.number().int().positive(),
    /** The part size of a multipart upload straight to the bucket (S3: 5 MiB to 5 GiB; raised for files needing more than 10 000 parts). */
    partBytes: z.number().int().min(5 * 1024 * 1024).max(5 * 1024 * 1024 * 1024),
    /** Unfinished resumable uploads untouched this long are deleted. */
    abandonedAfterHours: z.number().int().min(1).max(24 * 30),
  }),
  encode: z.strictObject({
    /** in-process: the server encodes; external: encodes are queued for `weir worker` processes sharing the data dir. */
    workers: z.enum(['in-process', 'external']),
    /** A worker's hold on a job; a job whose worker stops renewing it is taken over after this. */
    leaseSeconds: z.number().int().min(1).max(3600),
    /** How often an idle worker looks for jobs. */
    workerPollMs: z.number().int().min(50).max(60_000),
    /** Title encodes run at once; the rest wait in arrival order (each encode uses every core ffmpeg is given). */
    concurrency: z.number().int().min(1).max(64),
    preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow']),
    maxAttempts: z.number().int().min(1).max(10),
    retryBaseMs: z.number().int().min(0),
    /** ffmpeg -threads; 0 lets ffmpeg choose. */
    threads: z.number().int().min(0).max(64),
  }),
  packaging: z.strictObject({ segmentSeconds: z.number().int().min(1).max(30) }),
  playback: z.strictObject({
    /** How often players heartbeat a session; a session missing two heartbeats (and media requests) expires. */
    heartbeatSeconds: z.number().int().min(5).max(600),
    /** Playback sessions one client address may start per minute (bursts up to this many at once). */
    sessionsPerMinutePerAddress: z.number().int().min(1).max(100_000),
    /** Packages of content nobody has set access rules for ("free": anyone may watch, as before). */
    defaultPackages: z.array(z.string().min(1).max(64)).min(1).max(50),
    /** Content ratings from mildest to strongest: a viewer's limit admits its own and milder ones. */
    ratings: z.array(z.string().min(1).max(32)).min(1).max(50),
    geo: z.strictObject({
      /** Header a CDN sets with the viewer's country (e.g. CloudFront-Viewer-Country); believed only from trustedProxies. */
      countryHeader: z.string().max(100),
      /** CDN or proxy addresses (or CIDR ranges) whose country header is believed. */
      trustedProxies: z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).max(1000),
      /** Address ranges → ISO 3166-1 alpha-2 countries, for viewers not behind a trusted proxy. */
      ranges: z.array(z.strictObject({ cidr: z.union([z.cidrv4(), z.cidrv6()]), country: z.string().regex(/^[A-Z]{2}$/) })).max(100_000),
      /** Viewers whose country cannot be told: allowed or refused by content that has a geo rule. */
      unknownCountry: z.enum(['allow', 'deny']),
    }),
    /** Per device family, fields that replace the built-in profile's (see src/playback/profiles.ts). */
    deviceProfiles: z.partialRecord(z.enum(deviceFamilies), deviceProfileSchema.partial()),
  }),
  viewers: z.strictObject({
    /** Whether POST /v1/viewers without the admin token creates an account (no plan). */
    selfSignUp: z.boolean(),
    accessTokenSeconds: z.number().int().min(60).max(24 * 3600),
    refreshTokenDays: z.number().int().min(1).max(365),
    /** Failed sign-ins allowed per account and per address within the window before Retry-After. */
    loginFailuresPerAccount: z.number().int().min(1).max(1000),
    loginFailuresPerAddress: z.number().int().min(1).max(100_000),
    loginWindowMinutes: z.number().int().min(1).max(24 * 60),
  }),
  live: z.strictObject({
    /** LL-HLS part target; parts close within half a frame of it. */
    partTargetMs: z.number().int().min(50).max(2000),
    segmentSeconds: z.number().int().min(1).max(10),
    dvrWindowSeconds: z.number().int().min(10).max(6 * 3600),
    /** A publisher that sends no media for this long is cut. */
    stallTimeoutSeconds: z.number().int().min(1).max(120),
    /** Default for streams created without reconnectWindowSeconds. */
    reconnectWindowSeconds: z.number().int().min(0).max(3600),
    /** x264 preset of the live ladder: live encoding must keep up in real time. */
    ladderPreset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast']),
    /** HLS audio of clear streams: inside each video variant (one playlist to follow) or a playlist of its own. */
    hlsAudio: z.enum(['muxed', 'separate']),
    /** Scrubbing thumbnails at the live edge, one per this many seconds; 0 for none. */
    thumbnailSeconds: z.number().int().min(0).max(60),
  }),
  events: z.strictObject({
    /** Events kept for clients that reconnect and ask for what they missed. */
    replay: z.number().int().min(0).max(100_000),
    /** Bytes that may wait for one event-socket client before it is closed as too slow. */
    maxBufferedBytes: z.number().int().min(1024).max(64 * 1024 * 1024),
  }),
  webhooks: z.strictObject({
    /** Ranges (CIDR) webhooks may reach beyond public unicast addresses, e.g. ["127.0.0.0/8"] for a receiver on this machine. */
    allowedAddresses: z.array(z.cidrv4().or(z.cidrv6())).max(100),
    /** Time for a receiver to answer one attempt. */
    timeoutSeconds: z.number().int().min(1).max(60),
    /** Attempts before a message is marked failed (the first included). */
    maxAttempts: z.number().int().min(1).max(30),
    /** The wait after the first failed attempt; each further failure waits 4 times longer (with jitter), up to maxRetryMinutes. */
    retryBaseMs: z.number().int().min(10).max(3_600_000),
    maxRetryMinutes: z.number().int().min(1).max(24 * 60),
    /** Requests in flight at once over all endpoints. */
    concurrency: z.number().int().min(1).max(100),
    /** Delivered and failed messages are kept this long in the delivery log. */
    logDays: z.number().int().min(1).max(365),
  }),
  metrics: z.strictObject({
    /** Prometheus metrics on a port of their own, unauthenticated (bind it privately); null: /metrics on the main port, behind the admin token. */
    port: z.number().int().min(0).max(65535).nullable(),
    /** The address the metrics port listens on. */
    host: z.string().min(1),
  }),
  drm: z.strictObject({
    /** A CPIX 2.3 key server; empty means Weir generates keys itself. */
    cpixUrl: z.union([z.literal(''), z.url()]),
    /** DRM systems (system-id UUIDs) whose PSSH the key server is asked for. */
    cpixSystemIds: z.array(z.uuid()),
    /** Upstream license servers the license proxy forwards to, per system ('' : not offered). */
    licenseServers: z.strictObject({ widevine: z.union([z.literal(''), z.url()]), playready: z.union([z.literal(''), z.url()]), fairplay: z.union([z.literal(''), z.url()]) }),
    licenseTimeoutSeconds: z.number().int().min(1).max(60),
  }),
});

export type Config = z.infer<typeof configSchema>;

type SettingKind = 'string' | 'integer';

/** Each setting that can come from the environment or a flag: one row, so the three stay in step. */
export const overridableSettings = [
  { path: 'http.host', env: 'WEIR_HTTP_HOST', flag: 'http-host', kind: 'string' },
  { path: 'http.port', env: 'WEIR_HTTP_PORT', flag: 'http-port', kind: 'integer' },
  { path: 'http.publicUrl', env: 'WEIR_PUBLIC_URL', flag: 'public-url', kind: 'string' },
  { path: 'rtmp.port', env: 'WEIR_RTMP_PORT', flag: 'rtmp-port', kind: 'integer' },
  { path: 'srt.port', env: 'WEIR_SRT_PORT', flag: 'srt-port', kind: 'integer' },
  { path: 'dataDir', env: 'WEIR_DATA_DIR', flag: 'data-dir', kind: 'string' },
  { path: 'database.url', env: 'WEIR_DATABASE_URL', flag: 'database-url', kind: 'string' },
  { path: 'storage.kind', env: 'WEIR_STORAGE', flag: 'storage', kind: 'string' },
  { path: 'storage.s3.endpoint', env: 'WEIR_S3_ENDPOINT', flag: 's3-endpoint', kind: 'string' },
  { path: 'storage.s3.bucket', env: 'WEIR_S3_BUCKET', flag: 's3-bucket', kind: 'string' },
  { path: 'storage.s3.region', env: 'WEIR_S3_REGION', flag: 's3-region', kind: 'string' },
  { path: 'log.level', env: 'WEIR_LOG_LEVEL', flag: 'log-level', kind: 'string' },
  { path: 'upload.maxBytes', env: 'WEIR_UPLOAD_MAX_BYTES', flag: 'upload-max-bytes', kind: 'integer' },
  { path: 'encode.preset', env: 'WEIR_ENCODE_PRESET', flag: 'encode-preset', kind: 'string' },
  { path: 'encode.threads', env: 'WEIR_ENCODE_THREADS', flag: 'encode-threads', kind: 'integer' },
  { path: 'packaging.segmentSeconds', env: 'WEIR_SEGMENT_SECONDS', flag: 'segment-seconds', kind: 'integer' },
  { path: 'playback.heartbeatSeconds', env: 'WEIR_HEARTBEAT_SECONDS', flag: 'heartbeat-seconds', kind: 'integer' },
  { path: 'live.partTargetMs', env: 'WEIR_LIVE_PART_MS', flag: 'live-part-ms', kind: 'integer' },
  { path: 'live.segmentSeconds', env: 'WEIR_LIVE_SEGMENT_SECONDS', flag: 'live-segment-seconds', kind: 'integer' },
  { path: 'live.dvrWindowSeconds', env: 'WEIR_LIVE_DVR_SECONDS', flag: 'live-dvr-seconds', kind: 'integer' },
  { path: 'live.hlsAudio', env: 'WEIR_LIVE_HLS_AUDIO', flag: 'live-hls-audio', kind: 'string' },
  { path: 'metrics.port', env: 'WEIR_METRICS_PORT', flag: 'metrics-port', kind: 'integer' },
  { path: 'live.thumbnailSeconds', env: 'WEIR_LIVE_THUMBNAIL_SECONDS', flag: 'live-thumbnail-seconds', kind: 'integer' },
  { path: 'drm.cpixUrl', env: 'WEIR_CPIX_URL', flag: 'cpix-url', kind: 'string' },
] as const satisfies readonly { path: string; env: string; flag: string; kind: SettingKind }[];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type CliRequest =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'start'; config: Config; configFile: string | undefined };

const optionRows: [string, string][] = [
  ['--config FILE', 'JSON file with settings to override the defaults'],
  ...overridableSettings.map((s): [string, string] => [`--${s.flag} VALUE`, `${s.path} (env ${s.env})`]),
  ['--help', 'this text'],
  ['--version', 'the version'],
];
const optionWidth = Math.max(...optionRows.map(([option]) => option.length)) + 2;

export const usage = `Usage: weir [start] [options]
       weir worker [options]   (encodes jobs a server with encode.workers = external queues; same options)
       weir upload FILE [--title TITLE] | weir titles | weir streams create --name NAME   (see weir upload --help)

Starts the Weir media server. Settings come from config/default.json, then --config FILE,
then WEIR_* environment variables, then these flags. The other commands talk to a running
server (--server URL or WEIR_URL) with the admin token (WEIR_ADMIN_TOKEN or --data-dir).

Options:
${optionRows.map(([option, text]) => `  ${option.padEnd(optionWidth)}${text}`).join('\n')}`;

function defaultsPath(): string {
  // config/ sits beside src/ in the checkout and beside dist/src/ when built.
  for (const candidate of ['../config/default.json', '../../config/default.json']) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    try {
      readFileSync(path);
      return path;
    } catch {
      // try the next layout
    }
  }
  throw new ConfigError('config/default.json was not found beside the program');
}

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${what} ${path} cannot be read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${what} ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (!isPlainObject(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function parseSettingValue(raw: string, kind: SettingKind, source: string, path: string): unknown {
  if (kind === 'string') return raw;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new ConfigError(`Invalid configuration: ${path} (from ${source}) expected an integer, received ${JSON.stringify(raw)}`);
  }
  return Number(raw.trim());
}

function describeReceived(root: unknown, path: PropertyKey[]): string {
  let node: unknown = root;
  for (const key of path) node = isPlainObject(node) ? node[key as string] : undefined;
  return node === undefined ? 'nothing' : JSON.stringify(node);
}

/** Validates a merged settings object; the error names the key, what was expected and what arrived. */
export function validateConfig(raw: unknown, sources: Map<string, string> = new Map()): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.join('.');
    const from = sources.get(key);
    const where = from ? ` (from ${from})` : '';
    if (issue.code === 'unrecognized_keys') {
      const parent = key ? `${key}.` : '';
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => parent + k).join(', ')}${where}`;
    }
    return `${key}${where}: ${issue.message}, received ${describeReceived(raw, issue.path)}`;
  });
  throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
}

/** Builds the configuration from defaults, --config FILE, WEIR_* variables and flags, in that order. */
export function resolveCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const setting of overridableSettings) options[setting.flag] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${usage}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const sources = new Map<string, string>();
  let merged = readJsonFile(defaultsPath(), 'Default configuration') as Record<string, unknown>;
  const configFile = typeof values.config === 'string' ? values.config : env.WEIR_CONFIG;
  if (configFile) {
    const fromFile = readJsonFile(configFile, 'Configuration file');
    if (!isPlainObject(fromFile)) throw new ConfigError(`Configuration file ${configFile} must hold a JSON object`);
    merged = deepMerge(merged, fromFile);
  }
  for (const setting of overridableSettings) {
    const raw = env[setting.env];
    if (raw === undefined || raw === '') continue;
    setPath(merged, setting.path, parseSettingValue(raw, setting.kind, setting.env, setting.path));
    sources.set(setting.path, setting.env);
  }
  for (const setting of overridableSettings) {
    const raw = values[setting.flag];
    if (typeof raw !== 'string') continue;
    setPath(merged, setting.path, parseSettingValue(raw, setting.kind, `--${setting.flag}`, setting.path));
    sources.set(setting.path, `--${setting.flag}`);
  }
  return { kind: 'start', config: validateConfig(merged, sources), configFile };
}

/** The configuration with defaults only, plus overrides: for tests and embedding. */
export function defaultConfig(overrides: Record<string, unknown> = {}): Config {
  const defaults = readJsonFile(defaultsPath(), 'Default configuration') as Record<string, unknown>;
  return validateConfig(deepMerge(defaults, overrides));
}
