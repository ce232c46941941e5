#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx jit` works without a build step.
require('tsx/cjs');
const { buildCli } = require('../client/cli.ts');

buildCli()
  .parseAsync(process.argv)
  .catch((err) => {
    console.error(`jit: ${err.message}`);
    process.exit(1);
  });
