// HTTPS for the coordinator: the certificate and key files (`--tls-cert`, `--tls-key`), checked at
// start-up and re-read when they change, so a renewed certificate needs no restart.
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { InvalidInputError, errorMessage } from '../core/errors.js';
import { DEFAULT_WATCH_INTERVAL_MS, watchFiles, type FileWatch } from './file-watch.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** Both files or neither: one alone is a mistake, not a wish for plain HTTP. */
export function tlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) throw new InvalidInputError('--tls-key', 'needs --tls-cert FILE too (the certificate, PEM)');
  if (keyFile === undefined) throw new InvalidInputError('--tls-cert', 'needs --tls-key FILE too (its private key, PEM)');
  return { certFile, keyFile };
}

/** The PEM certificate (chain) and key, proved to be a usable pair; InvalidInputError naming the file otherwise. */
export function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const read = (path: string, field: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new InvalidInputError(field, `${path} cannot be read: ${(error as { code?: string }).code ?? errorMessage(error)}`);
    }
  };
  const pair = { cert: read(files.certFile, '--tls-cert'), key: read(files.keyFile, '--tls-key') };
  try {
    createSecureContext(pair);
  } catch (error) {
    throw new InvalidInputError('--tls-cert', `${files.certFile} and ${files.keyFile} are not a PEM certificate and its private key: ${errorMessage(error)}`);
  }
  return pair;
}

/** Serves the files' new pair once they changed and form a usable one; until then the old pair stays. */
export function watchTls(server: HttpsServer, files: TlsFiles, logger: Logger, intervalMs = DEFAULT_WATCH_INTERVAL_MS): FileWatch {
  return watchFiles([files.certFile, files.keyFile], intervalMs, () => {
    try {
      server.setSecureContext(readTls(files));
      logger.info({ cert: files.certFile }, 'TLS certificate re-read');
    } catch (error) {
      // A certificate and key are rarely replaced at the same instant: the next change retries.
      logger.warn({ cert: files.certFile }, `TLS certificate not re-read, the previous one is served: ${errorMessage(error)}`);
    }
  });
}
