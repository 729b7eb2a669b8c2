import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from './api';

type Metadata = { synopsis: string; genres: string[]; credits: { name: string; role: string }[]; releaseYear: number | null; series: unknown };

/** Edits what devices show about a title or stream: synopsis, genres, year (credits and series kept as they are). */
export function MetadataEditor({ path, label }: { path: string; label: string }) {
  const [metadata, setMetadata] = useState<Metadata | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    void api<Metadata>(`${path}/metadata`).then(setMetadata, (e: unknown) => setMessage(describeError(e)));
  }, [path]);
  if (!metadata) return message ? <p class="error">{message}</p> : null;
  const id = `${path.replace(/\W/g, '-')}-meta`;
  const save = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const year = String(form.get('year') ?? '').trim();
    try {
      const series = metadata.series as { id?: string; season?: number; episode?: number } | null;
      const saved = await api<Metadata>(`${path}/metadata`, {
        method: 'PUT',
        json: {
          synopsis: String(form.get('synopsis') ?? ''),
          genres: String(form.get('genres') ?? '')
            .split(',')
            .map((g) => g.trim())
            .filter(Boolean),
          credits: metadata.credits,
          releaseYear: year ? Number(year) : null,
          series: series?.id ? { id: series.id, season: series.season ?? 0, episode: series.episode ?? 0 } : null,
        },
      });
      setMetadata(saved);
      setMessage('Saved.');
    } catch (caught) {
      setMessage(describeError(caught));
    }
  };
  return (
    <form class="inline" onSubmit={save} aria-label={`Metadata of ${label}`}>
      <div>
        <label for={`${id}-synopsis`}>Synopsis</label>
        <textarea id={`${id}-synopsis`} name="synopsis" rows={3} defaultValue={metadata.synopsis} maxLength={10000} />
      </div>
      <div>
        <label for={`${id}-genres`}>Genres</label>
        <input id={`${id}-genres`} name="genres" defaultValue={metadata.genres.join(', ')} />
      </div>
      <div>
        <label for={`${id}-year`}>Year</label>
        <input id={`${id}-year`} name="year" type="number" min={1870} max={2200} defaultValue={metadata.releaseYear ?? ''} />
      </div>
      <button type="submit">Save metadata</button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}
