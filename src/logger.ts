import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * JSON lines by default; human-readable when stdout is a terminal. Secrets are redacted by key
 * so a careless `log.info({ headers })` cannot leak them.
 */
export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'weir' },
    redact: {
      paths: ['*.authorization', '*.headers.authorization', 'token', '*.token', 'adminToken', '*.adminToken', 'key', '*.key'],
      censor: '[redacted]',
    },
  };
  if (destination) return pino(options, destination as pino.DestinationStream);
  if (process.stdout.isTTY) return pino(options, pretty({ colorize: true, sync: true }));
  return pino(options);
}
