// Generates proto/gen/ from proto/ with protoc (npm `protoc`, binaries inside:
// works offline) and ts-proto's grpc-js output. Run by `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const outDir = join(root, 'proto', 'gen');
const bin = (name) => join(root, 'node_modules', '.bin', name);

const files = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.proto')) files.push(relative(protoDir, path));
  }
};
walk(protoDir);

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const options = [
  'outputServices=grpc-js', // service definitions and clients for @grpc/grpc-js
  'esModuleInterop=true',
  'importSuffix=.js', // NodeNext ESM imports
  'oneof=unions-value', // oneof as a tagged union: { $case, value }
  'forceLong=number', // versions and rounds fit in 2^53
  'env=node',
  'useOptionals=none', // proto3 scalars always present (zero defaults), as on the wire
  'useExactTypes=false', // fromPartial accepts plain object literals
  'outputTypeRegistry=false',
].join(',');
execFileSync(
  bin('protoc'),
  [
    `--plugin=protoc-gen-ts_proto=${bin('protoc-gen-ts_proto')}`,
    `--ts_proto_out=${outDir}`,
    `--ts_proto_opt=${options}`,
    `--proto_path=${protoDir}`,
    ...files,
  ],
  { stdio: 'inherit' },
);
console.log(`generated ${files.length} proto file(s) into ${relative(root, outDir)}/`);
