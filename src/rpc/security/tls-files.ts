import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TlsFileError } from './errors.js';

/** PEM file PATHS (not contents): a certificate chain, its private key, and a CA bundle to verify the peer against. */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

/** The files' contents, checked. */
export interface TlsPem {
  cert: Buffer | null;
  key: Buffer | null;
  ca: Buffer | null;
}

/** The flag each file comes from, for errors a user can act on. */
export const TLS_FLAGS = { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca' } as const;

async function readPem(which: keyof TlsFiles, path: string): Promise<Buffer> {
  try {
    const pem = await readFile(path);
    if (pem.length === 0) throw new TlsFileError(TLS_FLAGS[which], path, 'the file is empty');
    return pem;
  } catch (err) {
    if (err instanceof TlsFileError) throw err;
    throw new TlsFileError(TLS_FLAGS[which], path, `cannot read the file (${(err as Error).message})`);
  }
}

function parseCertificate(which: 'cert' | 'ca', path: string, pem: Buffer): X509Certificate {
  // grpc-js (OpenSSL) wants PEM; a DER file would fail later with a vaguer message.
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new TlsFileError(TLS_FLAGS[which], path, 'not a PEM certificate (no BEGIN CERTIFICATE block)');
  try {
    return new X509Certificate(pem); // the first certificate: the leaf of a chain, or one CA of a bundle
  } catch (err) {
    throw new TlsFileError(TLS_FLAGS[which], path, `not a valid certificate (${(err as Error).message})`);
  }
}

function parseKey(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new TlsFileError(TLS_FLAGS.key, path, `not a usable private key, or one protected by a passphrase (${(err as Error).message})`);
  }
}

/**
 * Reads and checks the given files: each parses, the key belongs to the
 * certificate, and the certificate has not expired. Checked here, at start,
 * because a bad file otherwise surfaces as an opaque handshake failure on the
 * peer's side, possibly minutes later.
 */
export async function readTlsFiles(tls: TlsFiles, now: Date = new Date()): Promise<TlsPem> {
  const [cert, key, ca] = await Promise.all([
    tls.cert !== undefined ? readPem('cert', tls.cert) : null,
    tls.key !== undefined ? readPem('key', tls.key) : null,
    tls.ca !== undefined ? readPem('ca', tls.ca) : null,
  ]);
  if (ca && tls.ca !== undefined) parseCertificate('ca', tls.ca, ca);
  if (cert && tls.cert !== undefined) {
    const x509 = parseCertificate('cert', tls.cert, cert);
    if (new Date(x509.validTo).getTime() < now.getTime())
      throw new TlsFileError(TLS_FLAGS.cert, tls.cert, `the certificate expired on ${x509.validTo}`);
    if (key && tls.key !== undefined && !x509.checkPrivateKey(parseKey(tls.key, key))) {
      throw new TlsFileError(TLS_FLAGS.key, tls.key, `this key does not belong to the certificate ${tls.cert}`);
    }
  } else if (key && tls.key !== undefined) {
    parseKey(tls.key, key);
  }
  return { cert, key, ca };
}
