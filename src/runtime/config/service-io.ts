import { ConfigError } from './config-error.js';

/**
 * How a service proves itself to NATS and checks the server: one of user and
 * password, a token, an nkey seed file or a credentials file (JWT + nkey);
 * with TLS, the CA that signed the server's certificate and, for a server that
 * verifies clients, this client's certificate and key.
 */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  credsFile?: string;
  nkeyFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** The NATS_ variable of each NatsAuth field: how the launcher hands credentials to its children (not on their command lines). */
export const NATS_AUTH_VARIABLES: Record<keyof NatsAuth, string> = {
  user: 'NATS_USER',
  pass: 'NATS_PASSWORD',
  token: 'NATS_TOKEN',
  credsFile: 'NATS_CREDS',
  nkeyFile: 'NATS_NKEY',
  caFile: 'NATS_CA',
  certFile: 'NATS_CERT',
  keyFile: 'NATS_KEY',
};

/** What every service takes for events and metrics, from flags, FLEET_/NATS_ variables or a config file. */
export interface ServiceIo {
  /** NATS server URL(s); null: no NATS, events stay in this process. */
  natsUrl: string | null;
  natsAuth: NatsAuth;
  /** Port of the Prometheus endpoint (0: any free port, logged); null: none. */
  metricsPort: number | null;
  metricsHost: string;
}

/** The raw values of --nats, the NATS credentials and --metrics-port/--metrics-host, as the command's parsers left them. */
export interface ServiceIoValues {
  nats?: unknown;
  natsUser?: unknown;
  natsPassword?: unknown;
  natsToken?: unknown;
  natsCreds?: unknown;
  natsNkey?: unknown;
  natsCa?: unknown;
  natsCert?: unknown;
  natsKey?: unknown;
  metricsPort?: unknown;
  metricsHost?: unknown;
}

const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Compiles the raw values into a ServiceIo; empty strings count as not given (an empty variable in a manifest). */
export function serviceIoFrom(values: ServiceIoValues): ServiceIo {
  const given: Record<keyof NatsAuth, string | undefined> = {
    user: text(values.natsUser),
    pass: text(values.natsPassword),
    token: text(values.natsToken),
    credsFile: text(values.natsCreds),
    nkeyFile: text(values.natsNkey),
    caFile: text(values.natsCa),
    certFile: text(values.natsCert),
    keyFile: text(values.natsKey),
  };
  if ((given.certFile === undefined) !== (given.keyFile === undefined)) {
    const [flag, value] = given.certFile === undefined ? ['--nats-key', given.keyFile] : ['--nats-cert', given.certFile];
    throw new ConfigError([
      { key: flag.slice(2), flag, message: 'needs both --nats-cert and --nats-key (a client certificate and its key)', value },
    ]);
  }
  const auth: NatsAuth = {};
  for (const [key, value] of Object.entries(given) as [keyof NatsAuth, string | undefined][]) if (value) auth[key] = value;
  return {
    natsUrl: text(values.nats) ?? null,
    natsAuth: auth,
    metricsPort: typeof values.metricsPort === 'number' ? values.metricsPort : null,
    metricsHost: text(values.metricsHost) ?? '0.0.0.0',
  };
}
