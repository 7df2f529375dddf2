// `routstr-kit mcp`: the MCP server of @routstr-kit/mcp (stdio by default, `--http <port>`).
import { runMcp } from '@routstr-kit/mcp';

/** Runs the MCP server until its client leaves or the process is interrupted. */
export function mcpCommand(argv: string[]): Promise<number> {
  return runMcp(argv, process.env);
}
