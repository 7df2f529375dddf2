// Builds the public packages, packs them with pnpm (publishConfig applied, workspace:^ made real ranges)
// and installs the tarballs with npm into fresh projects outside the workspace.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The public packages by name, with their folder in the workspace. */
export const PUBLIC_PACKAGES: Readonly<Record<string, string>> = {
  '@routstr-kit/core': 'packages/core',
  '@routstr-kit/devnet': 'packages/devnet',
  '@routstr-kit/llama-engine': 'packages/llama-engine',
  '@routstr-kit/provider': 'adapters/provider',
  '@routstr-kit/ai-sdk': 'adapters/ai-sdk',
  '@routstr-kit/langchain': 'adapters/langchain',
  '@routstr-kit/mcp': 'adapters/mcp',
  '@routstr-kit/market-data': 'packages/market-data',
  '@routstr-kit/cli': 'packages/cli',
};

/** Package name → tarball path. */
export type Tarballs = Readonly<Record<string, string>>;

function manifest(dir: string): { version: string; engines?: { node?: string }; bin?: Record<string, string>; dependencies?: Record<string, string> } {
  return JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
}

/** The pnpm that runs this test (`pnpm test` sets npm_execpath), else the one on PATH. */
function pnpmCommand(): { file: string; prefix: string[] } {
  const execPath = process.env['npm_execpath'];
  if (execPath && /pnpm/.test(execPath)) return /\.[cm]?js$/.test(execPath) ? { file: process.execPath, prefix: [execPath] } : { file: execPath, prefix: [] };
  return { file: 'pnpm', prefix: [] };
}

/** `pnpm build` (tsc -b: only what changed), then `pnpm pack` of every public package into `dest`. */
export async function buildAndPack(dest: string): Promise<Tarballs> {
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'], { cwd: ROOT });
  for (const dir of Object.values(PUBLIC_PACKAGES)) {
    for (const bin of Object.values(manifest(dir).bin ?? {})) {
      const built = join(ROOT, dir, bin.replace(/^\.\/src\//, 'dist/').replace(/\.ts$/, '.js'));
      chmodSync(built, 0o755);
    }
  }
  mkdirSync(dest, { recursive: true });
  const pnpm = pnpmCommand();
  const tarballs: Record<string, string> = {};
  // One at a time: each pack is quick and the machine has two cores.
  for (const [name, dir] of Object.entries(PUBLIC_PACKAGES)) {
    await run(pnpm.file, [...pnpm.prefix, 'pack', '--pack-destination', dest], { cwd: join(ROOT, dir) });
    const file = join(dest, `${name.replace('@', '').replace('/', '-')}-${manifest(dir).version}.tgz`);
    if (!existsSync(file)) throw new Error(`pnpm pack did not write ${file}`);
    tarballs[name] = file;
  }
  return tarballs;
}

/** The lowest Node the packages declare (`engines.node` is `>=x.y.z` in every one; they must agree). */
export function lowestSupportedNode(): string {
  const floors = new Set(Object.values(PUBLIC_PACKAGES).map((dir) => /^>=(\d+\.\d+\.\d+)$/.exec(manifest(dir).engines?.node ?? '')?.[1]));
  if (floors.size !== 1 || floors.has(undefined)) throw new Error(`public packages disagree on engines.node: ${[...floors].join(', ')}`);
  return [...floors][0]!;
}

/** The version of a third-party dependency as the workspace resolved it. */
export function workspaceVersion(fromDir: string, name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, fromDir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Writes package.json and runs `npm install` in `dir` (no workspace, no pnpm: what a user does). */
export async function npmInstall(dir: string, dependencies: Record<string, string>, options: { omitOptional?: boolean } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'packed-consumer', private: true, type: 'module', dependencies }, null, 2));
  // No lifecycle scripts: nothing here needs one (node-llama-cpp uses its prebuilt binary package).
  const args = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--no-package-lock', ...(options.omitOptional ? ['--omit=optional'] : [])];
  await run('npm', args, { cwd: dir, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_engine_strict: 'false' } });
}

/** `file:` dependencies on the given tarballs. */
export function tarballDeps(tarballs: Tarballs, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => {
    const file = tarballs[n];
    if (!file) throw new Error(`no tarball for ${n}`);
    return [n, `file:${file}`];
  }));
}

/**
 * The `node` binary of `version`, from the npm registry's `node` package, installed once into the
 * system temp folder and reused by later runs.
 */
export async function nodeFromRegistry(version: string): Promise<string> {
  const dir = join(tmpdir(), `routstr-kit-node-${version}`);
  const bin = join(dir, 'node_modules', '.bin', process.platform === 'win32' ? 'node.cmd' : 'node');
  const reported = await run(bin, ['--version']).then((r) => r.stdout.trim(), () => undefined);
  if (reported === `v${version}`) return bin;
  // Missing, or left half-installed by an interrupted run: install afresh.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'node-runtime', private: true }));
  // The node package's preinstall fetches the binary package for this platform from the registry.
  await run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', `node@${version}`], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  const { stdout } = await run(bin, ['--version']);
  if (stdout.trim() !== `v${version}`) throw new Error(`${bin} is ${stdout.trim()}, not v${version}`);
  return bin;
}

/** The prebuilt llama.cpp binary package of this machine (node-llama-cpp's optional dependency). */
export function llamaBinaryPackage(): string {
  const os = process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : process.platform;
  return `@node-llama-cpp/${os}-${process.arch}${process.platform === 'darwin' && process.arch === 'arm64' ? '-metal' : ''}`;
}
