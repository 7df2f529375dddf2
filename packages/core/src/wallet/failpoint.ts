/** Env var naming the one failpoint that kills the process (crash tests only). */
export const FAILPOINT_ENV = 'ROUTSTR_KIT_FAILPOINT';

/**
 * Crash-test hook: if ROUTSTR_KIT_FAILPOINT names this point, the process dies here with SIGKILL,
 * exactly like a power cut between two steps. A no-op otherwise.
 */
export function failpoint(name: string): void {
  if (process.env[FAILPOINT_ENV] === name) process.kill(process.pid, 'SIGKILL');
}

/** The environment for a crash-test child: this process's, with exactly `name` armed (or none). */
export function failpointEnv(name: string | null | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[FAILPOINT_ENV];
  if (name) env[FAILPOINT_ENV] = name;
  return env;
}
