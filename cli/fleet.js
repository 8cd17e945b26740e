#!/usr/bin/env node
// The `fleet` command. Runs the compiled CLI (npm install and npm start build it).
import { main } from '../dist/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // main prints fleet's own errors; anything else is a bug or an unforeseen failure:
    // one line for the user, the stack for whoever debugs it.
    const message = err instanceof Error ? err.message : String(err);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') {
      console.error(`fleet: unexpected error: ${err instanceof Error ? (err.stack ?? message) : message}`);
    } else {
      console.error(`fleet: unexpected error: ${message} (run with LOG_LEVEL=debug for the stack)`);
    }
    process.exitCode = 1;
  },
);
