import type { Request } from 'express';
import type { TitleRecord } from '../catalog/titles.js';

/** The base URL clients should use: the configured public URL, or what this request came to. */
export function baseUrl(req: Request, publicUrl: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/** A title as the API shows it. */
export function titleResource(title: TitleRecord, base: string) {
  const source = title.facts
    ? {
        sizeBytes: title.facts.sizeBytes,
        container: title.facts.container,
        durationMs: title.facts.durationMs,
        width: title.facts.video.width,
        height: title.facts.video.height,
        rotation: title.facts.video.rotation,
        frameRate: Math.round((title.facts.video.frameRate.num / title.facts.video.frameRate.den) * 1000) / 1000,
        videoCodec: title.facts.video.codec,
        audio: title.facts.audio,
      }
    : null;
  return {
    id: title.id,
    title: title.title,
    description: title.description,
    tags: title.tags,
    protection: title.protection,
    state: title.state,
    progress: Math.round(title.progress * 1000) / 1000,
    error: title.error,
    source,
    renditions: title.renditions ?? [],
    createdAt: new Date(title.createdAt).toISOString(),
    updatedAt: new Date(title.updatedAt).toISOString(),
    upload:
      title.state === 'awaiting_upload'
        ? { url: `${base}/v1/titles/${title.id}/source`, method: 'PUT', tusEndpoint: `${base}/v1/uploads`, tusMetadata: { titleId: title.id } }
        : null,
  };
}
