import t, { type Test } from 'tap';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveTitleId, createArchiver, type ArchiveTitleActors } from '../../src/actors/stream.archive.js';
import type { TitleEvent } from '../../src/actors/title.machine.js';
import { openDatabase } from '../../src/catalog/database.js';
import { TitleCatalog } from '../../src/catalog/titles.js';
import { createLogger } from '../../src/logger.js';
import { makeSource, tools } from '../helpers/media.js';
import { titlePaths } from '../../src/layout.js';
import { onEachEngine, type TestCatalog } from '../helpers/catalog.js';

/** A real catalog in a real SQLite file; title actors that move a title on as the real one would. */
function setup(t: Test, catalog: TestCatalog) {
  const { db, dir: dataDir } = catalog;
  const titles = new TitleCatalog(db);
  const sent: { id: string; event: TitleEvent }[] = [];
  const created: string[] = [];
  const titleActors: ArchiveTitleActors = {
    has: (id) => created.includes(id),
    create: (id) => void created.push(id),
    send: (id, event) => {
      sent.push({ id, event });
      titles.updateView(id, { state: 'probing', progress: 0, error: null, facts: null, renditions: null });
    },
  };
  const recordingDir = join(dataDir, 'recording');
  mkdirSync(recordingDir);
  copyFileSync(makeSource({ width: 320, height: 240, seconds: 2, audio: false }), join(recordingDir, 'v0.mp4'));
  const archive = createArchiver({ titles, titleActors, dataDir, ffmpeg: tools.ffmpeg, log: createLogger('silent') });
  return { dataDir, titles, titleActors, sent, created, recordingDir, archive };
}

onEachEngine(t, 'archiving the same broadcast twice makes one title and hands it its source once', async (t, catalog) => {
  const { titles, sent, created, recordingDir, archive, dataDir } = setup(t, catalog);
  const stream = { id: 'stream-1', name: 'Evening show' };
  const first = await archive(stream, recordingDir, 3);
  const again = await archive(stream, recordingDir, 3);
  t.equal(again, first, 'the same title id');
  t.equal(first, archiveTitleId('stream-1', 3));
  t.not(archiveTitleId('stream-1', 4), first, 'another broadcast gets another title');
  t.equal(titles.list(10, 0).total, 1, 'one title in the catalog');
  t.same(created, [first], 'one title actor');
  t.equal(sent.length, 1, 'the source was handed over once');
  t.ok(existsSync(titlePaths(dataDir, first).source), 'the joined recording is the source');
});

onEachEngine(t, 'a run that died after creating the title finishes the job on the next run without a second title', async (t, catalog) => {
  const { titles, sent, recordingDir, archive } = setup(t, catalog);
  const stream = { id: 'stream-2', name: 'Cut short' };
  const id = archiveTitleId(stream.id, 1);
  // What the first run left: the title exists, still waiting for its source.
  titles.create({ id, title: 'Cut short — broadcast 1', description: '', tags: ['live-archive'] });
  t.equal(await archive(stream, recordingDir, 1), id);
  t.equal(titles.list(10, 0).total, 1, 'still one title');
  t.same(sent.map((s) => s.event.type), ['SOURCE_UPLOADED'], 'the source was handed over');
});
