#!/usr/bin/env node
// routstr-kit MCP server: stdio by default, `--http <port>` for Streamable HTTP.
// stdout is the protocol channel: every log line goes to stderr.
import { runMcp } from './main.ts';

process.exitCode = await runMcp(process.argv.slice(2), process.env);
