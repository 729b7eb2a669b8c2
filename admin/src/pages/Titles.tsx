import { useCallback, useEffect, useState } from 'preact/hooks';
import { Upload } from 'tus-js-client';
import { AccessEditor } from '../access';
import { MetadataEditor } from '../metadata';
import { type Title, api, describeError, tokenStore } from '../api';
import { useEvents } from '../events';

type Created = Title & { upload: { tusEndpoint: string; tusMetadata: Record<string, string> } };

/** Title upload through tus (resumable), then the encode's progress from live events. */
function UploadForm({ onCreated }: { onCreated: (title: Title) => void }) {
  const [sent, setSent] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const file = data.get('file') as File | null;
    if (!file || file.size === 0) return setError('Choose a media file.');
    setError(null);
    try {
      const title = await api<Created>('/v1/titles', { method: 'POST', json: { title: String(data.get('title') || file.name), protection: String(data.get('protection')) } });
      onCreated(title);
      setSent(0);
      await new Promise<void>((resolve, reject) => {
        const upload = new Upload(file, {
          endpoint: title.upload.tusEndpoint,
          metadata: { ...title.upload.tusMetadata, filename: file.name },
          headers: { authorization: `Bearer ${tokenStore.get() ?? ''}` },
          chunkSize: 8 * 1024 * 1024,
          retryDelays: [0, 1000, 3000, 5000],
          onProgress: (bytes, total) => setSent(total > 0 ? bytes / total : 0),
          onError: reject,
          onSuccess: () => resolve(),
        });
        upload.start();
      });
      setSent(1);
      form.reset();
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="Upload a title">
      <div>
        <label for="upload-file">Media file</label>
        <input id="upload-file" name="file" type="file" accept="video/*,audio/*,.mkv,.mov,.mp4,.ts" required />
      </div>
      <div>
        <label for="upload-title">Title</label>
        <input id="upload-title" name="title" placeholder="(the file name)" />
      </div>
      <div>
        <label for="upload-protection">Protection</label>
        <select id="upload-protection" name="protection">
          <option value="none">none</option>
          <option value="cenc">cenc</option>
          <option value="cbcs">cbcs</option>
          <option value="aes-128">aes-128</option>
        </select>
      </div>
      <button type="submit">Upload</button>
      {sent !== null && (
        <div>
          <label for="upload-progress">Upload</label>
          <progress id="upload-progress" max={1} value={sent} data-upload-progress={sent} />
        </div>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </form>
  );
}

export function Titles() {
  const [titles, setTitles] = useState<Title[]>([]);
  const [editing, setEditing] = useState<string | null>(null);
  const load = useCallback(() => void api<{ items: Title[] }>('/v1/titles?limit=100').then((r) => setTitles(r.items)), []);
  useEffect(load, [load]);
  useEvents((event) => {
    const id = String(event.data.id);
    if (event.type === 'title.changed') setTitles((list) => list.map((t) => (t.id === id ? { ...t, state: String(event.data.state), progress: Number(event.data.progress), error: (event.data.error as Title['error']) ?? null } : t)));
    if (event.type === 'title.removed') setTitles((list) => list.filter((t) => t.id !== id));
  }, load);
  const remove = async (title: Title) => {
    if (!confirm(`Delete ${title.title} and its media?`)) return;
    await api(`/v1/titles/${title.id}`, { method: 'DELETE' });
  };
  return (
    <>
      <section aria-labelledby="upload">
        <h2 id="upload">Upload</h2>
        <UploadForm onCreated={(title) => setTitles((list) => [title, ...list.filter((t) => t.id !== title.id)])} />
      </section>
      <section aria-labelledby="all-titles">
        <h2 id="all-titles">Titles</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">State</th>
                <th scope="col">Encode</th>
                <th scope="col">Protection</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {titles.map((title) => (
                <>
                  <tr key={title.id} data-title={title.id} data-state={title.state}>
                    <td>{title.title}</td>
                    <td>
                      <span class="state" data-state={title.state}>
                        {title.state}
                      </span>
                      {title.error && <div class="error">{`${title.error.code}: ${title.error.message}`}</div>}
                    </td>
                    <td>
                      <progress max={1} value={title.state === 'ready' ? 1 : title.progress} aria-label={`Encode of ${title.title}`} />
                    </td>
                    <td>{title.protection}</td>
                    <td>
                      <button type="button" class="secondary" onClick={() => setEditing(editing === title.id ? null : title.id)} aria-expanded={editing === title.id}>
                        Edit
                      </button>{' '}
                      <button type="button" class="secondary" onClick={() => void remove(title)}>
                        Delete
                      </button>
                    </td>
                  </tr>
                  {editing === title.id && (
                    <tr key={`${title.id}-access`}>
                      <td colSpan={5}>
                        <MetadataEditor path={`/v1/titles/${title.id}`} label={title.title} />
                        <AccessEditor path={`/v1/titles/${title.id}`} label={title.title} />
                      </td>
                    </tr>
                  )}
                </>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
