import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{prisma,runner-template,gitserver,reconciler,platform,site}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/generated/**', '.data/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
