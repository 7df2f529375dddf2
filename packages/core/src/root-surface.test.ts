// Issue 15: the root re-exports each module's own list; nothing is listed twice, nothing collides.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
/** The modules the root re-exports (the package's subpaths, `testing` aside, plus `config`). */
const MODULES = ['money', 'protocol', 'pricing', 'wallet', 'payments', 'market', 'storage', 'orders', 'market-fetch', 'config'] as const;
const rootFile = join(here, 'index.ts');
const moduleFile = (name: string): string => join(here, name, 'index.ts');

/** Every exported name (values and types) of each file, as the TypeScript checker resolves them. */
function exportedNames(files: string[]): Map<string, string[]> {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    types: [], // export names need no ambient types: faster, and the same answer
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, string[]>();
  for (const file of files) {
    const source = program.getSourceFile(file);
    const symbol = source && checker.getSymbolAtLocation(source);
    if (!symbol) throw new Error(`no module symbol for ${file}`);
    out.set(file, checker.getExportsOfModule(symbol).map((s) => s.name).sort());
  }
  return out;
}

describe('the root surface of @routstr-kit/core', () => {
  it('is exactly the union of the modules\' surfaces (types included), and no two modules export one name', { timeout: 60_000 }, () => {
    const names = exportedNames([rootFile, ...MODULES.map(moduleFile)]);
    const owner = new Map<string, string>();
    const collisions: string[] = [];
    for (const module of MODULES) {
      for (const name of names.get(moduleFile(module)) ?? []) {
        const first = owner.get(name);
        if (first !== undefined) collisions.push(`${name} (${first}, ${module})`);
        owner.set(name, module);
      }
    }
    expect(collisions).toEqual([]);
    expect(names.get(rootFile)).toEqual([...owner.keys()].sort());
    expect(owner.size).toBeGreaterThan(400);
  });

  it('carries every runtime value of every module (an ambiguous `export *` would silently drop one)', async () => {
    const root = Object.keys(await import('./index.ts')).sort();
    const union = new Set<string>();
    for (const module of MODULES) for (const key of Object.keys((await import(`./${module}/index.ts`)) as object)) union.add(key);
    expect(root).toEqual([...union].sort());
  });
});
