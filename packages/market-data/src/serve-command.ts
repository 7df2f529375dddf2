/** `routstr-kit market serve`: flags and config → startMarketDataService, until SIGINT/SIGTERM. */

/** Runs the `market serve` command; resolves with the exit code. */
export async function runMarketServe(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  void argv;
  void env;
  throw new Error('not implemented yet');
}
