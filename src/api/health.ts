import { accessSync, constants } from 'node:fs';

export type HealthDeps = {
  db: { prepare(sql: string): { get(): unknown } };
  tools: { ffmpeg: string; ffprobe: string };
  isStopping: () => boolean;
};

/** GET /health: the database answers, ffmpeg and ffprobe can run, and the server is not stopping. */
export function healthCheck(deps: HealthDeps): () => { ok: boolean; checks: Record<string, boolean> } {
  return () => {
    const checks = { database: false, ffmpeg: false, ffprobe: false };
    try {
      checks.database = deps.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      checks.database = false;
    }
    for (const tool of ['ffmpeg', 'ffprobe'] as const) {
      try {
        accessSync(deps.tools[tool], constants.X_OK);
        checks[tool] = true;
      } catch {
        checks[tool] = false;
      }
    }
    return { ok: !deps.isStopping() && Object.values(checks).every(Boolean), checks };
  };
}
