// Crash-test hooks: `failpoint(name)` is a no-op unless ROUTSTR_KIT_FAILPOINT names it (then the
// process SIGKILLs itself there); `failpointEnv` arms one for a child process. Not part of the
// buyer-facing surface, which is why it has its own subpath.
export { failpoint, failpointEnv, FAILPOINT_ENV } from '../wallet/failpoint.ts';
