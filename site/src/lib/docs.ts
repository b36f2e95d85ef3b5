import { type CollectionEntry, getCollection } from 'astro:content';
import { docGroups } from '../content.config.ts';

export type Doc = CollectionEntry<'docs'>;

/** Every docs page in reading order: by sidebar group, then by `order`. */
export async function sortedDocs(): Promise<Doc[]> {
  const docs = await getCollection('docs');
  return docs.sort(
    (a, b) => docGroups.indexOf(a.data.group) - docGroups.indexOf(b.data.group) || a.data.order - b.data.order,
  );
}

/** The sidebar: each group with its pages, in reading order. */
export async function docsByGroup(): Promise<{ group: string; docs: Doc[] }[]> {
  const docs = await sortedDocs();
  return docGroups
    .map((group) => ({ group, docs: docs.filter((d) => d.data.group === group) }))
    .filter((g) => g.docs.length > 0);
}

/** The URL of a docs page. */
export const docHref = (doc: Doc): string => `/docs/${doc.id}/`;
