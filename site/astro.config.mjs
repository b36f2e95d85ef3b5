import { defineConfig } from 'astro/config';

// Static output served by the platform with express.static at `/`.
// Pages build to `<route>/index.html`, so every link carries a trailing slash.
export default defineConfig({
  output: 'static',
  trailingSlash: 'always',
  build: { format: 'directory', inlineStylesheets: 'auto' },
  devToolbar: { enabled: false },
  markdown: {
    shikiConfig: {
      themes: { light: 'github-light', dark: 'github-dark' },
      defaultColor: false,
    },
  },
});
