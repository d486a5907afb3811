/** Unit tests run TypeScript through ts-jest (CommonJS); CLI tests spawn the built bin/run.js. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/env/nodeRealm.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testTimeout: 120000,
};
