#!/usr/bin/env node
const oclif = require('@oclif/core');
// The published entry runs the compiled dist/ only, whatever NODE_ENV says (bin/dev.js runs sources).
oclif.settings.enableAutoTranspile = false;
oclif.execute({ dir: __dirname });
