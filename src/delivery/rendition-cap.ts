import { WeirError } from '../errors.js';

/**
 * A session may fetch no file of a rendition above its cap (titles and live streams alike).
 * `limit` is the tallest height it may play (see allowedHeight), `cap` what its plan and device gave it.
 */
export function assertWithinCap(renditionId: string, height: number, limit: number, cap: number): void {
  if (height > limit) {
    throw new WeirError('RENDITION_NOT_ALLOWED', `Rendition ${renditionId} (${height} lines) is above what this playback session may play (${cap} lines).`);
  }
}
