/** The admin token, kept for this tab only (sessionStorage): closing the tab signs out. */
export const tokenStore = {
  get: (): string | null => sessionStorage.getItem('weir-admin-token'),
  set: (token: string) => sessionStorage.setItem('weir-admin-token', token),
  clear: () => sessionStorage.removeItem('weir-admin-token'),
};

/** A coded error from the API, as the server explains it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How a failure reads on a page: the server's code and message, or what the browser said. */
export const describeError = (caught: unknown): string => (caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String((caught as Error)?.message ?? caught));

/** Calls Weir's HTTP API with the admin token; answers JSON, or throws the server's coded error. */
export async function api<T>(path: string, init: { method?: string; json?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? tokenStore.get() ?? ''}` };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method: init.method ?? 'GET', headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (!response.ok) {
    let error = { code: 'HTTP_' + response.status, message: text.slice(0, 200) };
    try {
      error = (JSON.parse(text) as { error: typeof error }).error;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(response.status, error.code, error.message);
  }
  return (response.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as T) : (text as T);
}

export type Title = { id: string; title: string; state: string; progress: number; error: { code: string; message: string } | null; protection: string; createdAt: string; source: { width: number; height: number; durationMs: number } | null };
export type Stream = {
  id: string;
  name: string;
  mode: string;
  state: string;
  streamKey: string;
  protection: string;
  ingest: { rtmp: string; srt: string };
  live: { publishing: boolean; bytesIn: number } | null;
};
export type Access = { packages: string[]; availableFrom: string | null; availableUntil: string | null; geo: { mode: 'allow' | 'deny'; countries: string[] } | null; rating: string | null };
export type Webhook = { id: string; url: string; description: string; events: string[]; enabled: boolean; disabledReason: string | null };
export type Delivery = { id: string; type: string; state: string; attempts: number; createdAt: string; attemptLog: { attempt: number; at: string; status: number | null; error: string | null; durationMs: number }[] };
export type Viewer = { id: string; email: string; displayName: string; planId: string | null; maxRating: string | null };
export type Plan = { id: string; name: string; maxStreams: number; maxDevices: number; maxHeight: number; packages: string[] };
