import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs. Anything that could carry a credential is redacted by path, as a safety
 * net: code must still never log secrets on purpose.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { app: 'trivy-lookout' },
    redact: {
      paths: [
        '*.password',
        '*.token',
        '*.authorization',
        '*.headers.authorization',
        '*.serverToken',
        '*.serverCustomHeaders',
        'config.trivy.serverCustomHeaders',
        'config.trivy.serverToken',
      ],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
