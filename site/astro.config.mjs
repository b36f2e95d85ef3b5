import { defineConfig } from 'astro/config';
import { pagefindIndex } from './src/integrations/pagefind.ts';

// Static output served by the platform with express.static at `/`.
// Pages build to `<route>/index.html`, so every link carries a trailing slash.
export default defineConfig({
  output: 'static',
  trailingSlash: 'always',
  build: { format: 'directory', inlineStylesheets: 'auto' },
  devToolbar: { enabled: false },
  integrations: [pagefindIndex()],
  markdown: {
    shikiConfig: {
      // High-contrast themes: every token colour meets AA contrast on the code background.
      themes: { light: 'github-light-high-contrast', dark: 'github-dark-high-contrast' },
      defaultColor: false,
    },
  },
});
