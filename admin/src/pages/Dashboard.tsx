import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, type Stream, type Title } from '../api';
import { useEvents, type LiveEvent } from '../events';
import { BarChart } from '../charts';
import { Preview } from '../preview';

type QoeGroup = { bucketStart: string; attempts: number; startupMs: { p50: number | null }; rebufferingRatio: number | null; peakConcurrentViewers: number };

/** The last day of QoE, hour by hour: traffic, start-up time and rebuffering. */
function QoeCharts({ version }: { version: number }) {
  const [groups, setGroups] = useState<QoeGroup[]>([]);
  useEffect(() => {
    void api<{ groups: QoeGroup[] }>('/v1/analytics/qoe?bucket=hour').then((r) => setGroups(r.groups), () => undefined);
  }, [version]);
  const points = (read: (g: QoeGroup) => number | null) => groups.map((g) => ({ label: g.bucketStart.slice(11, 16), value: read(g) }));
  if (groups.length === 0) return <p>No playback in the last 24 hours.</p>;
  return (
    <div class="figures">
      <BarChart title="Sessions started" points={points((g) => g.attempts)} format={(v) => String(v)} />
      <BarChart title="Peak viewers" points={points((g) => g.peakConcurrentViewers)} format={(v) => String(v)} />
      <BarChart title="Start-up time (median)" points={points((g) => g.startupMs.p50)} format={(v) => `${Math.round(v)} ms`} />
      <BarChart title="Rebuffering" points={points((g) => g.rebufferingRatio)} format={(v) => `${(v * 100).toFixed(2)} %`} />
    </div>
  );
}

/** Sums a gauge's samples out of Prometheus text. */
const gaugeTotal = (text: string, name: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

/** The last minutes of one stream's ingest bitrate, drawn as a line. */
function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) return <span>—</span>;
  const max = Math.max(...values, 1);
  const points = values.map((v, i) => `${(i / (values.length - 1)) * 120},${30 - (v / max) * 28}`).join(' ');
  return (
    <svg width="120" height="32" role="img" aria-label={`Ingest bitrate, last ${values.length} readings`}>
      <polyline points={points} fill="none" stroke="#14213d" stroke-width="1.5" />
    </svg>
  );
}

export function Dashboard() {
  const [streams, setStreams] = useState<Stream[]>([]);
  const [titles, setTitles] = useState<Title[]>([]);
  const [sessions, setSessions] = useState<number | null>(null);
  const [bitrates, setBitrates] = useState<Record<string, number[]>>({});
  // Bumped when sessions end (at most every 10 s): the QoE charts read their figures again.
  const [qoeVersion, setQoeVersion] = useState(0);
  const [lastQoeRead, setLastQoeRead] = useState(0);
  const load = useCallback(() => {
    void api<{ items: Stream[] }>('/v1/live-streams').then((r) => setStreams(r.items));
    void api<{ items: Title[] }>('/v1/titles?limit=20').then((r) => setTitles(r.items));
    void api<string>('/metrics').then((text) => setSessions(gaugeTotal(text, 'weir_playback_sessions')), () => setSessions(null));
  }, []);
  useEffect(load, [load]);
  useEvents((event: LiveEvent) => {
    const id = String(event.data.id);
    if (event.type === 'title.changed') {
      setTitles((list) => (list.some((t) => t.id === id) ? list.map((t) => (t.id === id ? { ...t, state: String(event.data.state), progress: Number(event.data.progress), error: (event.data.error as Title['error']) ?? null } : t)) : list));
      if (!titles.some((t) => t.id === id)) void api<Title>(`/v1/titles/${id}`).then((title) => setTitles((list) => [title, ...list.filter((t) => t.id !== id)]), () => undefined);
    } else if (event.type === 'title.removed') setTitles((list) => list.filter((t) => t.id !== id));
    else if (event.type === 'stream.changed') void api<Stream>(`/v1/live-streams/${id}`).then((stream) => setStreams((list) => [...list.filter((s) => s.id !== id), stream]), () => undefined);
    else if (event.type === 'stream.removed') setStreams((list) => list.filter((s) => s.id !== id));
    else if (event.type === 'ingest.stats' && typeof event.data.bitrate === 'number') setBitrates((all) => ({ ...all, [id]: [...(all[id] ?? []), event.data.bitrate as number].slice(-60) }));
    else if (event.type === 'session.started') setSessions((n) => (n ?? 0) + 1);
    else if (event.type === 'session.ended') {
      setSessions((n) => Math.max(0, (n ?? 1) - 1));
      if (Date.now() - lastQoeRead > 10_000) {
        setLastQoeRead(Date.now());
        setQoeVersion((v) => v + 1);
      }
    }
  }, load);

  const live = streams.filter((s) => s.state === 'live' || s.state === 'reconnecting');
  return (
    <>
      <section aria-labelledby="now">
        <h2 id="now">Now</h2>
        <div class="figures">
          <div class="figure">
            <strong data-figure="live">{live.length}</strong> live streams
          </div>
          <div class="figure">
            <strong data-figure="encoding">{titles.filter((t) => t.state === 'encoding' || t.state === 'packaging').length}</strong> titles encoding
          </div>
          <div class="figure">
            <strong data-figure="sessions">{sessions ?? '—'}</strong> playback sessions
          </div>
        </div>
      </section>
      <section aria-labelledby="qoe">
        <h2 id="qoe">Quality of experience, last 24 hours</h2>
        <QoeCharts version={qoeVersion} />
      </section>
      <section aria-labelledby="live">
        <h2 id="live">Live streams</h2>
        <div class="cards">
          {streams.map((stream) => (
            <div class="card" key={stream.id} data-stream={stream.id}>
              <h3>{stream.name}</h3>
              <p>
                <span class="state" data-state={stream.state}>
                  {stream.state}
                </span>{' '}
                {bitrates[stream.id]?.length ? `${Math.round(bitrates[stream.id]!.at(-1)! / 1000)} kbit/s` : ''}
              </p>
              <Sparkline values={bitrates[stream.id] ?? []} />
              {stream.state === 'live' && <Preview contentId={stream.id} label={stream.name} />}
            </div>
          ))}
          {streams.length === 0 && <p>No live streams yet.</p>}
        </div>
      </section>
      <section aria-labelledby="titles">
        <h2 id="titles">Titles</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
              </tr>
            </thead>
            <tbody>
              {titles.map((title) => (
                <tr key={title.id} data-title={title.id}>
                  <td>{title.title}</td>
                  <td>
                    <span class="state" data-state={title.state}>
                      {title.state}
                    </span>
                    {title.error && <div class="error">{title.error.message}</div>}
                  </td>
                  <td>
                    <progress max={1} value={title.state === 'ready' ? 1 : title.progress} aria-label={`${title.title} progress`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
