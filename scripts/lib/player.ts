import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const chromiumPath = process.env.WEIR_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = existsSync(chromiumPath) ? false : `Chromium is not installed: apt-get update && apt-get install -y chromium`;

/** Flags that work as root on these machines and keep Chromium off the closed network. */
const launchArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: launchArgs });
}


/**
 * The player page, served from its own origin (another port) so that playback also proves
 * CORS. `window.play(kind, url)` starts hls.js, Shaka or dash.js; `window.report()` reads the
 * video. Stalls count `waiting` events after playback first started, the rebuffering a viewer sees.
 */
const page = `<!doctype html><html><body>
<video id="v" muted playsinline width="640"></video>
<canvas id="stamp" width="640" height="40" hidden></canvas>
<script src="/hls.js"></script><script src="/shaka.js"></script><script src="/dash.js"></script><script src="/mpegts.js"></script>
<script>
  const video = document.getElementById('v');
  window.playerErrors = [];
  window.stalls = 0;
  let started = false;
  // What a device app reports to Weir with its heartbeats (QoE): startup, stalls, bitrate, errors.
  window.qoeEvents = [];
  let playPressed = 0, firstFrame = false, stalled = false;
  video.requestVideoFrameCallback(() => { firstFrame = true; window.qoeEvents.push({ type: 'startup', ms: Math.round(performance.now() - playPressed) }); });
  video.addEventListener('playing', () => {
    started = true;
    if (stalled) { stalled = false; window.qoeEvents.push({ type: 'rebuffer_end', t: Math.round(performance.now()) }); }
  });
  video.addEventListener('waiting', () => {
    if (!started) return;
    window.stalls++;
    if (!stalled) { stalled = true; window.qoeEvents.push({ type: 'rebuffer_start', t: Math.round(performance.now()) }); }
  });
  window.bitrate = null;
  /** Heartbeats as an app sends them: position, state, bitrate and the QoE events since the last. */
  window.startHeartbeats = (url, authorization, intervalMs) => {
    const beat = () => {
      const events = window.qoeEvents.splice(0);
      const state = stalled || !firstFrame ? 'buffering' : video.paused ? 'paused' : 'playing';
      const body = { position: video.currentTime, state, events };
      if (window.bitrate) body.bitrate = window.bitrate;
      return fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    };
    const timer = setInterval(beat, intervalMs);
    window.stopHeartbeats = async () => { clearInterval(timer); await beat(); };
  };
  window.play = async (kind, url, config) => {
    playPressed = performance.now();
    if (kind === 'hls') {
      const hls = new Hls(Object.assign({ debug: false }, config || {}));
      window.hls = hls;
      hls.on(Hls.Events.ERROR, (_e, data) => {
        // The exception behind it (an append refused, and why) says more than the code alone.
        const why = data.error && data.error.message ? ' (' + String(data.error.message).slice(0, 300) + (data.frag ? '; ' + data.frag.type + ' fragment ' + data.frag.sn + (data.part ? ' part ' + data.part.index : '') : '') + ')' : '';
        if (data.fatal) window.playerErrors.push(data.type + ':' + data.details + why);
        window.qoeEvents.push({ type: 'error', code: String(data.details).slice(0, 100), fatal: !!data.fatal });
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => { window.bitrate = hls.levels[data.level].bitrate; });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (kind === 'flv') {
      // HTTP-FLV with mpegts.js chasing the live edge: the low-latency reference.
      const player = mpegts.createPlayer({ type: 'flv', isLive: true, url }, { enableStashBuffer: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 0.8, liveBufferLatencyMinRemain: 0.2 });
      player.on(mpegts.Events.ERROR, (type, detail) => window.playerErrors.push('flv:' + type + ':' + detail));
      player.attachMediaElement(video);
      player.load();
    } else if (kind === 'dashjs') {
      const player = dashjs.MediaPlayer().create();
      window.dashPlayer = player;
      player.on(dashjs.MediaPlayer.events.ERROR, (event) => window.playerErrors.push('dashjs:' + (event.error && (event.error.code + ' ' + event.error.message))));
      player.updateSettings(Object.assign({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_NONE } }, (config && config.settings) || {}));
      if (config && config.protectionData) player.setProtectionData(config.protectionData);
      player.initialize(video, url, true);
    } else {
      shaka.polyfill.installAll();
      const player = new shaka.Player();
      window.shakaPlayer = player;
      player.addEventListener('error', (event) => {
        window.playerErrors.push('shaka:' + event.detail.code);
        window.qoeEvents.push({ type: 'error', code: String(event.detail.code), fatal: event.detail.severity === 2 });
      });
      player.addEventListener('adaptation', () => { const track = player.getVariantTracks().find((t) => t.active); if (track) window.bitrate = track.bandwidth; });
      if (config) player.configure(config);
      await player.attach(video);
      await player.load(url).catch((e) => window.playerErrors.push('shaka-load:' + (e.code || e.message)));
    }
    // Not awaited: play() stays pending until media arrives, which a refused stream never does.
    // dash.js starts playback itself (autoplay) and must see the play event: an early play() hides it.
    if (kind !== 'dashjs') video.play().catch((e) => window.playerErrors.push('play:' + e.message));
  };
  // Glass to glass: each displayed frame of a stamped feed shows when it was drawn (stamped-feed.ts).
  window.glass = [];
  const stampCanvas = document.getElementById('stamp').getContext('2d', { willReadFrequently: true });
  const readStamp = () => {
    if (video.videoWidth === 640) {
      stampCanvas.drawImage(video, 0, 0, 640, 40, 0, 0, 640, 40);
      const pixels = stampCanvas.getImageData(0, 0, 640, 40).data;
      let value = 0;
      for (let bit = 0; bit < 32; bit++) {
        const x = bit * 20 + 10;
        value = value * 2 + (pixels[(5 * 640 + x) * 4] > pixels[(25 * 640 + x) * 4] ? 1 : 0);
      }
      let latency = (Date.now() % 2 ** 32) - value;
      if (latency < 0) latency += 2 ** 32;
      if (latency < 60000) window.glass.push(latency);
    }
    video.requestVideoFrameCallback(readStamp);
  };
  video.requestVideoFrameCallback(readStamp);
  window.report = () => ({
    frames: video.getVideoPlaybackQuality().totalVideoFrames,
    currentTime: video.currentTime,
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    errors: window.playerErrors,
    stalls: window.stalls,
    dashLatency: window.dashPlayer && window.dashPlayer.isDynamic() ? window.dashPlayer.getCurrentLiveLatency() : null,
    hlsLatency: window.hls ? window.hls.latency : null,
    hlsTargetLatency: window.hls ? window.hls.targetLatency : null,
    bufferAhead: video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) - video.currentTime : 0,
    mediaError: video.error ? video.error.code + ':' + video.error.message : null,
  });
</script></body></html>`;

export type PlayerPageServer = { url: string; close(): Promise<void> };

export async function servePlayerPage(): Promise<PlayerPageServer> {
  const require = createRequire(import.meta.url);
  const playerScripts: Record<string, string> = {
    '/hls.js': require.resolve('hls.js/dist/hls.min.js'),
    '/shaka.js': require.resolve('shaka-player/dist/shaka-player.compiled.js'),
    // dashjs's CommonJS entry is its UMD bundle.
    '/dash.js': require.resolve('dashjs'),
    '/mpegts.js': require.resolve('mpegts.js/dist/mpegts.js'),
  };
  const server: Server = createServer((req, res) => {
    const script = playerScripts[req.url ?? ''];
    if (script) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(script));
      return;
    }
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type VideoReport = {
  frames: number;
  currentTime: number;
  videoWidth: number;
  videoHeight: number;
  errors: string[];
  /** `waiting` events after playback started. */
  stalls: number;
  /** dash.js's own live latency in seconds, for a dynamic MPD. */
  dashLatency: number | null;
  /** hls.js's own latency and the target it aims at, in seconds (by program date-time). */
  hlsLatency: number | null;
  hlsTargetLatency: number | null;
  /** Seconds of media buffered ahead of the playhead. */
  bufferAhead: number;
  mediaError: string | null;
};

/** hls.js and Shaka (the forgiving pair), dash.js (the DASH-IF reference), mpegts.js for HTTP-FLV. */
export type PlayerKind = 'hls' | 'dash' | 'dashjs' | 'flv';

export type PlayReport = VideoReport & { latency: number | null };

/**
 * Opens the player page, starts hls.js or Shaka on a URL with a config, and waits for the proof
 * of playback (frames decoded and time past a point) or for an error; returns what the video
 * reports, with ingest-to-display latency when hls.js knows the program date-time.
 */
export async function playAndWait(
  browser: Browser,
  pageUrl: string,
  options: { kind: PlayerKind; url: string; config?: unknown; frames: number; seconds: number; timeoutMs?: number; refuse?: RegExp },
): Promise<PlayReport> {
  const page = await browser.newPage();
  try {
    // Requests to refuse with 403 wherever the player found their URL (a license server saying no).
    if (options.refuse) await page.route(options.refuse, (route) => route.fulfill({ status: 403, body: 'refused' }));
    await page.goto(pageUrl);
    await page.evaluate(
      ([kind, url, config]) => (globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void> }).play(kind as string, url as string, config),
      [options.kind, options.url, options.config ?? {}] as const,
    );
    await page
      .waitForFunction(
        ([frames, seconds]) => {
          const r = (globalThis as unknown as { report: () => VideoReport }).report();
          return (r.frames > frames! && r.currentTime > seconds!) || r.errors.length > 0 || r.mediaError !== null;
        },
        [options.frames, options.seconds] as const,
        { timeout: options.timeoutMs ?? 60_000, polling: 100 },
      )
      .catch(() => undefined); // the report below says what was reached
    return await page.evaluate(() => {
      const g = globalThis as unknown as { report: () => VideoReport; hls?: { playingDate?: Date | null } };
      const date = g.hls?.playingDate;
      return { ...g.report(), latency: date ? (Date.now() - date.getTime()) / 1000 : null };
    });
  } finally {
    await page.close();
  }
}

/** A player left running on its page, for tests that change the stream under it. */
export type OpenPlayer = {
  report(): Promise<VideoReport>;
  /** Glass-to-glass samples (ms) read off a stamped feed since the last call. */
  takeGlass(): Promise<number[]>;
  /** The page, to ask its player directly. */
  page: Page;
  close(): Promise<void>;
};

export async function openPlayer(browser: Browser, pageUrl: string, options: { kind: PlayerKind; url: string; config?: unknown }): Promise<OpenPlayer> {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.evaluate(
    ([kind, url, config]) => (globalThis as unknown as { play: (k: string, u: string, c: unknown) => Promise<void> }).play(kind as string, url as string, config),
    [options.kind, options.url, options.config ?? {}] as const,
  );
  return {
    report: () => page.evaluate(() => (globalThis as unknown as { report: () => VideoReport }).report()),
    takeGlass: () =>
      page.evaluate(() => {
        const g = globalThis as unknown as { glass: number[] };
        const taken = g.glass;
        g.glass = [];
        return taken;
      }),
    page,
    close: () => page.close(),
  };
}
