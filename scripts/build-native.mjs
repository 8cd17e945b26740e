#!/usr/bin/env node
/**
 * Builds the optional oneDNN addon (src/compute/onednn) when oneDNN's headers
 * are installed. Never fails: without oneDNN, or when the compile fails, it
 * prints one line and exits 0, and fleet runs on its WASM kernels.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = join(root, 'src', 'compute', 'onednn');
const HEADER = join('oneapi', 'dnnl', 'dnnl.hpp');

function pkgConfig(args) {
  try {
    return execFileSync('pkg-config', [...args, 'dnnl'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** Compiler/linker flags for oneDNN, or null when it is not installed. */
function findOnednn() {
  const cflags = pkgConfig(['--cflags']);
  if (cflags !== null) return { cflags, libs: pkgConfig(['--libs-only-L']) ?? '' };
  for (const prefix of ['/usr', '/usr/local', '/opt/intel/oneapi/dnnl/latest']) {
    if (existsSync(join(prefix, 'include', HEADER))) {
      const std = prefix === '/usr';
      return { cflags: std ? '' : `-I${join(prefix, 'include')}`, libs: std ? '' : `-L${join(prefix, 'lib')}` };
    }
  }
  return null;
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const npmDir = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(npmDir)) return npmDir;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

/** Node's own headers when installed beside it, so node-gyp needs no download. */
function localNodeDir() {
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? prefix : null;
}

const onednn = findOnednn();
if (!onednn) {
  console.log(
    'fleet: oneDNN not found, native CPU kernels skipped (apt-get install libdnnl-dev, then npm rebuild fleet or node scripts/build-native.mjs)',
  );
  process.exit(0);
}
const gyp = nodeGyp();
if (!gyp) {
  console.log(`fleet: node-gyp not found, native CPU kernels skipped (install npm's node-gyp, then node scripts/build-native.mjs)`);
  process.exit(0);
}
const nodeDir = localNodeDir();
const args = [gyp, 'rebuild', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
const env = {
  ...process.env,
  CXXFLAGS: `${process.env.CXXFLAGS ?? ''} ${onednn.cflags}`.trim(),
  LDFLAGS: `${process.env.LDFLAGS ?? ''} ${onednn.libs}`.trim(),
};
const result = spawnSync(process.execPath, args, { cwd: addonDir, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
// After the run: `node-gyp rebuild` starts by deleting build/.
const buildDir = join(addonDir, 'build');
mkdirSync(buildDir, { recursive: true });
const logPath = join(buildDir, 'build-native.log');
writeFileSync(logPath, `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
if (result.status === 0) {
  console.log('fleet: native oneDNN kernels built (src/compute/onednn/build)');
} else {
  console.log(`fleet: building the native oneDNN kernels failed, continuing without them (log: ${logPath})`);
}
process.exit(0);
