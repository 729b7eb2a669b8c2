import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { makeSource } from '../helpers/media.js';
import { publishRtmp } from '../helpers/publisher.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

// The callbacks handed to page.evaluate run in the page: these are the parts of the browser's types they use.
type PageElement = { labels?: { length: number } | null; getAttribute(name: string): string | null; tagName: string; textContent: string | null; outerHTML: string };
type PageVideo = { getVideoPlaybackQuality(): { totalVideoFrames: number }; currentTime: number; videoWidth: number };
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};

if (chromiumMissing) {
  t.plan(0, chromiumMissing);
  process.exit(0);
}

// Screenshots are kept as artefacts of the run (test-results/ is not committed).
const artefacts = join(process.cwd(), 'test-results', 'admin-ui');
mkdirSync(artefacts, { recursive: true });

let server: TestServer;
let browser: Browser;
let page: Page;
t.before(async () => {
  server = await startTestServer();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('dialog', (dialog) => void dialog.accept()); // confirmations (reset key) are answered yes
});
t.teardown(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (name: string) => page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });

t.test('the admin UI is served as static files under a strict content security policy', async (t) => {
  const index = await fetch(`${server.url}/admin/`);
  t.equal(index.status, 200);
  t.match(index.headers.get('content-type'), /text\/html/);
  t.match(index.headers.get('content-security-policy'), /default-src 'self'/);
  const html = await index.text();
  const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  t.ok(script, 'the page loads a built bundle');
  const bundle = await fetch(`${server.url}${script}`);
  t.match(bundle.headers.get('cache-control'), /immutable/);
  t.notMatch(await bundle.text(), /from ['"]node:|require\(['"](fs|path|child_process)['"]\)/, 'no Node module in the browser bundle');
});

t.test('an operator signs in with the admin token; a wrong token is refused with the coded error', async (t) => {
  await page.goto(`${server.url}/admin/`);
  await page.getByLabel('Admin token').fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await t.resolves(page.getByRole('alert').filter({ hasText: 'ADMIN_AUTH_REQUIRED' }).waitFor());
  await page.getByLabel('Admin token').fill(server.adminToken);
  await page.keyboard.press('Enter'); // the form submits from the keyboard
  await page.getByRole('navigation', { name: 'Sections' }).waitFor();
  t.ok(await page.getByRole('link', { name: 'Dashboard' }).isVisible());
});

t.test('uploading a file shows its upload progress and then its encode progress until it is ready', async (t) => {
  await page.goto(`${server.url}/admin/#/titles`);
  await page.getByLabel('Media file').setInputFiles(makeSource({ width: 640, height: 360, seconds: 3 }));
  await page.getByLabel('Title', { exact: true }).fill('Uploaded from the admin UI');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.locator('[data-upload-progress="1"]').waitFor({ timeout: 30_000 });
  const row = page.locator('tr[data-state]', { hasText: 'Uploaded from the admin UI' });
  await row.and(page.locator('[data-state="encoding"], [data-state="packaging"], [data-state="ready"]')).waitFor({ timeout: 30_000 });
  await shot('title-encoding');
  await row.and(page.locator('[data-state="ready"]')).waitFor({ timeout: 120_000 });
  t.equal(await row.getByRole('progressbar').evaluate((bar) => (bar as unknown as { value: number }).value), 1, 'the progress bar is full');
  const titles = (await (await server.api('/v1/titles')).json()) as { items: { title: string; state: string }[] };
  t.match(titles.items.find((item) => item.title === 'Uploaded from the admin UI'), { state: 'ready' }, 'the server agrees');
  await shot('title-ready');

  // Editing: metadata and access rules, saved through the API.
  await row.getByRole('button', { name: 'Edit' }).click();
  const metadata = page.getByRole('form', { name: 'Metadata of Uploaded from the admin UI' });
  await metadata.getByLabel('Synopsis').fill('A test pattern, uploaded by a browser.');
  await metadata.getByLabel('Genres').fill('Documentary, Test');
  await metadata.getByLabel('Year').fill('2026');
  await metadata.getByRole('button', { name: 'Save metadata' }).click();
  await metadata.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const access = page.getByRole('form', { name: 'Access of Uploaded from the admin UI' });
  await access.getByLabel('Country codes').fill('de, fr');
  await access.getByRole('button', { name: 'Save access' }).click();
  await access.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const id = (await row.getAttribute('data-title'))!;
  t.match(await (await server.api(`/v1/titles/${id}/metadata`)).json(), { synopsis: 'A test pattern, uploaded by a browser.', genres: ['Documentary', 'Test'], releaseYear: 2026 });
  t.match(await (await server.api(`/v1/titles/${id}/access`)).json(), { geo: { mode: 'allow', countries: ['DE', 'FR'] } });
  await access.getByLabel('Country codes').fill('');
  await access.getByRole('button', { name: 'Save access' }).click();
  await waitUntil(async () => ((await (await server.api(`/v1/titles/${id}/access`)).json()) as { geo: unknown }).geo === null, 'the geo rule cleared');
});

t.test('a stream created in the UI goes live when ffmpeg publishes, its preview plays, and resetting its key cuts the publisher', async (t) => {
  await page.goto(`${server.url}/admin/#/streams`);
  await page.getByLabel('Name').fill('Studio A');
  await page.getByRole('button', { name: 'Create stream' }).click();
  const card = page.locator('.card', { hasText: 'Studio A' });
  await card.waitFor();
  const rtmp = (await card.locator('[data-ingest="rtmp"]').textContent())!.replace('localhost', '127.0.0.1');
  const publisher = publishRtmp({ url: rtmp, seconds: 120, width: 640, height: 360 });
  t.teardown(() => publisher.stop());
  await card.and(page.locator('[data-state="live"]')).waitFor({ timeout: 30_000 });
  const preview = card.locator('video[data-preview]');
  // Frames decoded and time advancing: the preview really plays.
  await page.waitForFunction((element) => { const video = element as unknown as PageVideo | null; return !!video && video.getVideoPlaybackQuality().totalVideoFrames > 15 && video.currentTime > 0.5; }, await preview.elementHandle(), { timeout: 30_000 });
  const frames = await preview.evaluate((element) => { const video = element as unknown as PageVideo; return { frames: video.getVideoPlaybackQuality().totalVideoFrames, width: video.videoWidth }; });
  t.ok(frames.frames > 15, `the preview decoded ${frames.frames} frames`);
  t.equal(frames.width, 640);
  await shot('stream-live');

  await page.goto(`${server.url}/admin/#/dashboard`);
  await page.locator('[data-figure="live"]', { hasText: '1' }).waitFor();
  await page.locator('[data-stream] svg').waitFor({ timeout: 15_000 }); // the ingest bitrate, from live events
  await page.getByRole('img', { name: /^Sessions started per hour: / }).waitFor(); // QoE charts, from the analytics API
  await shot('dashboard');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('dashboard-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  t.ok(overflow <= 1, `no sideways scrolling on a phone (${overflow} px)`);
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.goto(`${server.url}/admin/#/streams`);
  await card.getByRole('button', { name: 'Reset key' }).click();
  await page.waitForFunction((old) => !document.querySelector('[data-ingest="rtmp"]')?.textContent?.includes(old), rtmp.split('/').at(-1)!);
  const code = await publisher.exited;
  t.not(code, 0, 'the publisher using the old key was cut');
  await card.and(page.locator('[data-state]:not([data-state="live"])')).waitFor({ timeout: 30_000 });
  t.pass('and the stream left the live state in the UI');
});

t.test('every form control has an accessible name', async (t) => {
  for (const hash of ['dashboard', 'titles', 'streams', 'viewers', 'webhooks']) {
    await page.goto(`${server.url}/admin/#/${hash}`);
    await page.locator('main h2').first().waitFor();
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button, video')].filter((el) => {
        const labelled = el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent?.trim());
        return !labelled;
      }).map((el) => el.outerHTML.slice(0, 80)),
    );
    t.same(unnamed, [], `${hash}: no unnamed control`);
  }
});
