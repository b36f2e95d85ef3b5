import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration } from 'astro';
import * as pagefind from 'pagefind';

/** Pagefind's ready-made search UIs (and their highlighter), written with every index. */
const UNUSED_UI = /^pagefind-(ui|component-ui|modular-ui|highlight)\.(js|css)$/;

/**
 * Builds the docs' full-text search index with Pagefind after every `astro build`, into `<outDir>/pagefind/`
 * (whatever `--outDir` the build was given). Only pages that mark their text with `data-pagefind-body` (the docs
 * articles) are indexed: sidebars, headers and the dashboard's shells are not.
 */
export function pagefindIndex(): AstroIntegration {
  return {
    name: 'bmms-pagefind',
    hooks: {
      'astro:build:done': async ({ dir, logger }) => {
        const site = fileURLToPath(dir);
        const { index, errors } = await pagefind.createIndex({ forceLanguage: 'en' });
        if (!index) throw new Error(`Pagefind could not start: ${errors.join('; ')}`);
        try {
          const added = await index.addDirectory({ path: site });
          if (added.errors.length > 0) throw new Error(`Pagefind could not index the site: ${added.errors.join('; ')}`);
          const written = await index.writeFiles({ outputPath: path.join(site, 'pagefind') });
          if (written.errors.length > 0)
            throw new Error(`Pagefind could not write its index: ${written.errors.join('; ')}`);
          // The docs have their own search box on Pagefind's JS API: its ready-made UIs are not shipped.
          const out = path.join(site, 'pagefind');
          for (const file of await readdir(out)) {
            if (UNUSED_UI.test(file)) await rm(path.join(out, file));
          }
          logger.info(`search index: ${added.page_count} pages`);
        } finally {
          await pagefind.close();
        }
      },
    },
  };
}
