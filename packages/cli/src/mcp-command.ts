// `routstr-kit mcp`: the MCP server of adapters/mcp (stdio by default, `--http <port>`). Imported by
// path because the cli does not depend on @routstr-kit/mcp as a workspace package yet.
import { runMcp } from '../../../adapters/mcp/src/main.ts';

/** Runs the MCP server until its client leaves or the process is interrupted. */
export function mcpCommand(argv: string[]): Promise<number> {
  return runMcp(argv, process.env);
}
