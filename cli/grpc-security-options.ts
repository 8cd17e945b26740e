import type { Command } from 'commander';
import { opt } from './option.js';
import { parseGrpcSecurity, type GrpcSecurity, type SecurityRole } from '../src/rpc/security/index.js';

/**
 * The gRPC security flags, each also a FLEET_* variable (flag wins). The
 * coordinator is the server: its certificate, and a CA to require client
 * certificates (mutual TLS). Workers and the evaluator are clients: a CA to
 * verify the coordinator, their own certificate for mutual TLS, and the name
 * the coordinator's certificate is checked for.
 */
export function addGrpcSecurityOptions(command: Command, role: SecurityRole): Command {
  const server = role === 'server';
  command
    .addOption(
      opt(
        '--tls-cert <file>',
        server
          ? 'serve TLS with this PEM certificate (chain) (with --tls-key)'
          : 'present this PEM client certificate (mutual TLS; with --tls-key)',
        'FLEET_TLS_CERT',
      ),
    )
    .addOption(opt('--tls-key <file>', 'PEM private key of --tls-cert', 'FLEET_TLS_KEY'))
    .addOption(
      opt(
        '--tls-ca <file>',
        server
          ? 'require client certificates signed by this PEM CA (mutual TLS)'
          : "verify the coordinator's certificate against this PEM CA (default: the system's roots); implies TLS",
        'FLEET_TLS_CA',
      ),
    );
  if (!server) {
    command
      .addOption(opt('--tls', 'connect with TLS (implied by any --tls-* flag)', 'FLEET_TLS').default(false))
      .addOption(
        opt(
          '--tls-server-name <name>',
          "check the coordinator's certificate for this name instead of the dialled host; implies TLS",
          'FLEET_TLS_SERVER_NAME',
        ),
      );
  }
  if (server) {
    command.addOption(
      opt(
        '--token-rotation-window <seconds>',
        'with --token-file (one token per line, all accepted, re-read when it changes or on SIGHUP): a token dropped from the file stays accepted this long (default 600)',
        'FLEET_TOKEN_ROTATION_WINDOW',
      ),
    );
  }
  return command
    .addOption(
      opt(
        '--token <token>',
        server
          ? 'refuse calls without "authorization: Bearer <token>" (UNAUTHENTICATED); the health service stays open. Prefer --token-file or FLEET_TOKEN: flags show in ps'
          : 'send "authorization: Bearer <token>" on every call. Prefer --token-file or FLEET_TOKEN: flags show in ps',
        'FLEET_TOKEN',
      ),
    )
    .addOption(
      opt(
        '--token-file <file>',
        server
          ? 'read the tokens from this file (one a line, all accepted), e.g. a mounted Kubernetes secret; followed as it changes (token rotation: docs/security.md)'
          : 'read the token from this file (its first line), e.g. a mounted Kubernetes secret; followed as it changes, and re-read when a call is refused',
        'FLEET_TOKEN_FILE',
      ),
    );
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The parsed flags as a GrpcSecurity; a bad file or combination is a ConfigError naming the flag (exit 2). */
export function grpcSecurityFromFlags(flags: Record<string, unknown>, role: SecurityRole): Promise<GrpcSecurity> {
  return parseGrpcSecurity(
    {
      tlsCert: str(flags.tlsCert),
      tlsKey: str(flags.tlsKey),
      tlsCa: str(flags.tlsCa),
      tlsServerName: str(flags.tlsServerName),
      tls: flags.tls === true,
      token: str(flags.token),
      tokenFile: str(flags.tokenFile),
      tokenRotationWindow: str(flags.tokenRotationWindow),
    },
    role,
  );
}
