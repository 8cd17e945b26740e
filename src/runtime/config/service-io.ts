/** What every service takes for events and metrics, from flags, FLEET_/NATS_ variables or a config file. */
export interface ServiceIo {
  /** NATS server URL(s); null: no NATS, events stay in this process. */
  natsUrl: string | null;
  natsAuth: { user?: string; pass?: string; token?: string; credsFile?: string };
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
  metricsPort?: unknown;
  metricsHost?: unknown;
}

const text = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Compiles the raw values into a ServiceIo; empty strings count as not given (an empty variable in a manifest). */
export function serviceIoFrom(values: ServiceIoValues): ServiceIo {
  const auth: ServiceIo['natsAuth'] = {};
  const user = text(values.natsUser);
  const pass = text(values.natsPassword);
  const token = text(values.natsToken);
  const credsFile = text(values.natsCreds);
  if (user) auth.user = user;
  if (pass) auth.pass = pass;
  if (token) auth.token = token;
  if (credsFile) auth.credsFile = credsFile;
  return {
    natsUrl: text(values.nats) ?? null,
    natsAuth: auth,
    metricsPort: typeof values.metricsPort === 'number' ? values.metricsPort : null,
    metricsHost: text(values.metricsHost) ?? '0.0.0.0',
  };
}
