import { ChannelCredentials, ServerCredentials } from '@grpc/grpc-js';
import { securityFlagError } from './errors.js';
import { readTlsFiles, type TlsFiles } from './tls-files.js';

/**
 * The files each side needs: a server its certificate and key (the CA is
 * optional: mutual TLS); a client both or neither of certificate and key.
 */
export function checkTlsPairing(tls: TlsFiles, role: 'server' | 'client'): void {
  if (role === 'server') {
    if (tls.cert === undefined) throw securityFlagError('--tls-cert', undefined, 'a TLS server needs its certificate (with --tls-key)');
    if (tls.key === undefined) throw securityFlagError('--tls-key', undefined, 'a TLS server needs the private key of --tls-cert');
  } else if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw tls.cert === undefined
      ? securityFlagError('--tls-cert', undefined, 'a client certificate is needed with --tls-key')
      : securityFlagError('--tls-key', undefined, 'the private key of --tls-cert is needed');
  }
}

/**
 * The server's transport: insecure for null; TLS with --tls-cert/--tls-key;
 * with --tls-ca as well, mutual TLS: a client without a certificate signed
 * by that CA is refused during the handshake, before any call.
 */
export async function serverCredentialsFrom(tls: TlsFiles | null): Promise<ServerCredentials> {
  if (tls === null) return ServerCredentials.createInsecure();
  checkTlsPairing(tls, 'server');
  const pem = await readTlsFiles(tls);
  return ServerCredentials.createSsl(pem.ca, [{ cert_chain: pem.cert!, private_key: pem.key! }], pem.ca !== null);
}

/**
 * A client's transport: insecure for null; otherwise TLS verifying the
 * server against --tls-ca (else the system's roots), presenting a client
 * certificate when --tls-cert/--tls-key are given (mutual TLS).
 */
export async function channelCredentialsFrom(tls: TlsFiles | null): Promise<ChannelCredentials> {
  if (tls === null) return ChannelCredentials.createInsecure();
  checkTlsPairing(tls, 'client');
  const pem = await readTlsFiles(tls);
  return ChannelCredentials.createSsl(pem.ca, pem.key, pem.cert);
}
