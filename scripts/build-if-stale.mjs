#!/usr/bin/env node
// Builds dist/ only when a source, config or the compiler settings changed since the last build,
// so `npm start` starts in a second instead of recompiling every time. The fingerprint is of
// file contents (not times), so a fresh clone built at install is not built again.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stampPath = join(root, 'dist', '.build-fingerprint');

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (/\.(ts|tsx|mts|json|css|html)$/.test(entry.name)) yield path;
  }
}

const hash = createHash('sha256');
const inputs = [...files(join(root, 'src')), ...files(join(root, 'scripts')), ...files(join(root, 'admin')), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json'), join(root, 'package-lock.json')];
for (const path of inputs.sort()) hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
const fingerprint = hash.digest('hex');

const built = existsSync(join(root, 'dist', 'src', 'main.js')) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === fingerprint;
if (!built || process.argv.includes('--force')) {
  process.stderr.write('weir: building (sources changed since the last build)...\n');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  // The admin UI: type-checked, then bundled by Vite into static files under dist/admin.
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'admin', 'tsconfig.json')], { stdio: 'inherit' });
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(root, 'admin', 'vite.config.ts'), '--logLevel', 'warn'], { stdio: 'inherit', cwd: root });
  writeFileSync(stampPath, fingerprint);
}
