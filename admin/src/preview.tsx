import Hls from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api';

type Session = { id: string; sources: { protocol: string; url: string }[] };

/** A muted preview of live content: an admin playback session played with hls.js. */
export function Preview({ contentId, label }: { contentId: string; label: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let hls: Hls | null = null;
    let sessionId: string | null = null;
    let stopped = false;
    void (async () => {
      try {
        const session = await api<Session>('/v1/playback-sessions', { method: 'POST', json: { contentId } });
        sessionId = session.id;
        const source = session.sources.find((s) => s.protocol === 'hls');
        if (stopped || !source || !video.current) return;
        if (Hls.isSupported()) {
          hls = new Hls({ lowLatencyMode: true });
          hls.loadSource(source.url);
          hls.attachMedia(video.current);
        } else video.current.src = source.url;
        void video.current.play().catch(() => undefined);
      } catch (caught) {
        setError(String((caught as Error).message));
      }
    })();
    return () => {
      stopped = true;
      hls?.destroy();
      if (sessionId) void api(`/v1/playback-sessions/${sessionId}`, { method: 'DELETE' }).catch(() => undefined);
    };
  }, [contentId]);
  return (
    <>
      <video ref={video} muted playsInline autoplay aria-label={`Preview of ${label}`} data-preview={contentId} />
      {error && <p class="error">{error}</p>}
    </>
  );
}
