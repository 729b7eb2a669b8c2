import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { pino, symbols, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** Secrets the process knows by value (admin token, stream keys, passphrases): never written to a log. */
export type LogSecrets = { add(secret: string): void };

// Access tokens (and playback tokens of the earlier form) are JWTs: three base64url parts, the first a JSON header.
const jwtPattern = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{8,}/g;
// Playback tokens: a session id and its MAC.
const playbackTokenPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[\w-]{22}/gi;
// Webhook signing secrets (Standard Webhooks form), in any letter case.
const webhookSecretPattern = /whsec_[A-Za-z0-9+/=]+/gi;
// The path segment after /media/<id>/ is a token whatever it looks like, in any letter case.
const mediaTokenPattern = /(\/media\/[^/\s"?#]+\/)[^/\s"?#]+/gi;
// Runs long enough to be a generated key (stream keys are 24 characters, admin tokens 43).
const keyLikeRun = /[\w-]{16,}/g;
const redacted = '[redacted]';

/**
 * Removes secrets from a finished log line, by what they are rather than by field name, so a
 * token inside a path, a query string or a third-party message is caught too. Comparison
 * ignores letter case: a secret typed in other case is still a secret.
 */
export class SecretScrubber implements LogSecrets {
  /** Secrets made of key characters, found by looking up each key-like run. */
  private readonly keys = new Set<string>();
  /** Free-form secrets (passphrases), found by substring search; few, so that stays cheap. */
  private readonly phrases = new Set<string>();

  add(secret: string): void {
    if (secret.length < 6) return; // too short to find without hiding ordinary text
    const folded = secret.toLowerCase();
    if (/^[\w-]{16,}$/.test(secret)) this.keys.add(folded);
    else this.phrases.add(folded);
  }

  scrub(line: string): string {
    let out = line.replace(jwtPattern, '[token]').replace(playbackTokenPattern, '[token]').replace(mediaTokenPattern, '$1[token]').replace(webhookSecretPattern, redacted);
    if (this.keys.size > 0) out = out.replace(keyLikeRun, (run) => (this.keys.has(run.toLowerCase()) ? redacted : run));
    for (const phrase of this.phrases) {
      // The line is JSON: a passphrase with quotes or backslashes appears escaped.
      for (const form of new Set([phrase, JSON.stringify(phrase).slice(1, -1)])) {
        let at = out.toLowerCase().indexOf(form);
        while (at >= 0) {
          out = out.slice(0, at) + redacted + out.slice(at + form.length);
          at = out.toLowerCase().indexOf(form, at + redacted.length);
        }
      }
    }
    return out;
  }
}

type Sink = { write(line: string): unknown };

/**
 * Writes each line to a file descriptor synchronously. A reader that went away (EPIPE, EBADF)
 * turns the sink off instead of retrying: shutdown must finish whatever the log destination
 * does. A full non-blocking pipe drops the line and counts it rather than stalling the server.
 */
export class FdSink implements Sink {
  private closed = false;
  private dropped = 0;

  constructor(private readonly fd: number) {}

  write(line: string): void {
    if (this.closed) return;
    const text = this.dropped > 0 ? `${JSON.stringify({ level: 40, msg: 'log lines dropped: the log reader was not keeping up', dropped: this.dropped })}\n${line}` : line;
    const bytes = Buffer.from(text);
    try {
      // A pipe may take part of a line; the rest follows, so no reader sees half a line.
      for (let written = 0; written < bytes.length; ) written += writeSync(this.fd, bytes, written);
      this.dropped = 0;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') this.dropped++;
      else this.closed = true;
    }
  }
}

/** What pino writes to: scrubs each line, then hands it on. Shared by every child logger. */
class ScrubbingStream {
  constructor(
    readonly secrets: SecretScrubber,
    private readonly next: Sink,
  ) {}

  write(line: string): void {
    this.next.write(this.secrets.scrub(line));
  }
}

/**
 * JSON lines by default; human-readable when stdout is a terminal. Secrets are removed twice:
 * by key (`authorization`, `token`…) so a careless `log.info({ headers })` cannot leak them,
 * and by value from every finished line (see SecretScrubber).
 */
export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'weir' },
    redact: {
      paths: ['*.authorization', '*.headers.authorization', 'token', '*.token', 'adminToken', '*.adminToken', 'key', '*.key', 'streamKey', '*.streamKey', 'passphrase', '*.passphrase'],
      censor: redacted,
    },
  };
  let sink: Sink;
  if (destination) sink = destination;
  else if (isatty(1)) sink = pretty({ colorize: true, sync: true });
  else sink = new FdSink(1);
  return pino(options, new ScrubbingStream(new SecretScrubber(), sink));
}

/** The secrets registry behind a logger (and all its children), to add values that must never appear. */
export function logSecrets(log: Logger): LogSecrets {
  const stream = (log as unknown as Record<symbol, unknown>)[symbols.streamSym];
  if (stream instanceof ScrubbingStream) return stream.secrets;
  throw new Error('this logger was not made by createLogger; it has no secrets registry');
}
