#!/usr/bin/env node
// Runs the TypeScript sources directly (needs ts-node); the published entry point is run.js.
require('@oclif/core').execute({ development: true, dir: __dirname });
