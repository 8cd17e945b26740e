/**
 * Certificates for the TLS tests, made with the openssl CLI in a temporary
 * folder: a CA, a server certificate for 127.0.0.1 / localhost, a client
 * certificate, and a second, unrelated CA with its own client certificate.
 * EC P-256 keys (fast to make); valid for a day.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = process.env.OPENSSL ?? 'openssl';

export interface TestCertificates {
  /** The CA that signed server and client. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA unrelated to the others, and a client certificate it signed. */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run(OPENSSL, args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

/** A leaf certificate signed by `ca`, with the given extensions (subjectAltName, extendedKeyUsage). */
async function makeLeaf(
  dir: string,
  name: string,
  ca: { cert: string; key: string },
  extensions: string[],
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  await writeFile(ext, `${['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].join('\n')}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    String(Date.now() + Math.floor(Math.random() * 1e6)),
    '-days',
    '1',
    '-out',
    cert,
    '-extfile',
    ext,
  ]);
  return { cert, key };
}

export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const [ca, other] = await Promise.all([makeCa(dir, 'fleet-test-ca'), makeCa(dir, 'other-ca')]);
  const [server, client, otherClient] = await Promise.all([
    makeLeaf(dir, 'coordinator', ca, ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']),
    makeLeaf(dir, 'worker', ca, ['extendedKeyUsage=clientAuth']),
    makeLeaf(dir, 'intruder', other, ['extendedKeyUsage=clientAuth']),
  ]);
  return {
    ca: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherCa: other.cert,
    otherClientCert: otherClient.cert,
    otherClientKey: otherClient.key,
  };
}
