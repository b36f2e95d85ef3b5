import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{prisma,runner-template,gitserver,reconciler,platform,site}/**/*.test.ts'],
    // runner-template/templates holds the templates' own repo files: their tests run with node --test in a rendered repo.
    exclude: ['**/node_modules/**', '**/generated/**', '.data/**', 'runner-template/templates/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
