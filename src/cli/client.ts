import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Which server the CLI talks to, and with what. */
export type CliTarget = { url: string; token: string };

/** A refusal from the server, with its machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The CLI was asked something it cannot do (exit code 2). */
export class UsageError extends Error {}

/**
 * The server from `--server`, `WEIR_URL` or the local default; the admin token from
 * `WEIR_ADMIN_TOKEN` or the data dir the server keeps it in.
 */
export function resolveTarget(options: { server?: string; dataDir?: string }, env: NodeJS.ProcessEnv): CliTarget {
  const url = (options.server ?? env.WEIR_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--server must be an http(s) URL such as http://localhost:8080; received ${JSON.stringify(url.slice(0, 100))}.`);
  const tokenFile = join(options.dataDir ?? env.WEIR_DATA_DIR ?? 'data', 'admin-token');
  const token = env.WEIR_ADMIN_TOKEN || (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '');
  if (!token) throw new UsageError(`No admin token: set WEIR_ADMIN_TOKEN, or point --data-dir at the server's data dir (no ${tokenFile}).`);
  return { url, token };
}

/** One API call as the operator; throws ApiError with the server's code when refused. */
export async function call<T>(target: CliTarget, method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit & { duplex?: 'half' } = { method, headers: { authorization: `Bearer ${target.token}` } };
  if (body instanceof ReadableStream) {
    init.body = body;
    init.duplex = 'half';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, init);
  } catch (error) {
    throw new ApiError(0, 'SERVER_UNREACHABLE', `Weir at ${target.url} could not be reached: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}.`);
  }
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: described below
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? `${method} ${path} answered ${response.status}.`);
  }
  return parsed as T;
}
