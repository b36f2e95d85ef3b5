import { defineCollection } from 'astro:content';
import { glob } from 'astro/loaders';
import { z } from 'astro/zod';

/** Sidebar groups, in the order the sidebar shows them. */
export const docGroups = ['Start', 'Build', 'Ship', 'Reference', 'Operate'] as const;

const docs = defineCollection({
  loader: glob({ pattern: '*.md', base: './src/content/docs' }),
  schema: z.object({
    title: z.string(),
    description: z.string(),
    group: z.enum(docGroups),
    order: z.number(),
  }),
});

export const collections = { docs };
