import { walletCommand } from './wallet-command.ts';

/** Runs `routstr-kit wallet <argv> --json` in this process and returns its last JSON line; a non-zero exit throws with what it wrote to stderr. */
export async function walletJson(argv: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  let out = '';
  let err = '';
  const code = await walletCommand([...argv, '--json'], env, { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false });
  if (code !== 0) throw new Error(`routstr-kit wallet ${argv.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out.trim().split('\n').at(-1) ?? 'null') as Record<string, unknown>;
}
