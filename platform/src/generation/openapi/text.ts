import { tokensOf } from '../../checks/surface.ts';

const INVISIBLE = /[\p{Cf}\p{Co}\p{Cs}\u115F\u1160\u3164\uFFA0\u2800]|[\p{Cc}--[\n\t]]/gv;

/**
 * Turns documentation prose into plain tool-description text: markdown links keep their label, bare URLs,
 * HTML tags, images and invisible characters go (the surface check refuses links to hosts outside egress
 * and hidden characters), whitespace collapses.
 */
export function plainText(text: string): string {
  return text
    .replace(INVISIBLE, '')
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\[[^\]]*\]/g, '$1')
    .replace(/<[^>\n]{0,200}>/g, ' ')
    .replace(/\b(?:https?|ftp):\/\/[^\s)>\]"']+/gi, '')
    .replace(/\bwww\.[^\s)>\]"']+/gi, '')
    .replace(/`+/g, '')
    .replace(/(\*\*|__)(\S(?:.*?\S)?)\1/g, '$2')
    .replace(/^\s*(?:#{1,6}|>)\s+/gm, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+([.,;:])(?=\s|$)/g, '$1')
    .replace(/\(\s*\)/g, '')
    .trim();
}

/** Cuts `text` to at most `maxTokens` (o200k_base), at a sentence or word boundary, marking the cut with "…". */
export function trimToTokens(text: string, maxTokens: number): string {
  if (maxTokens <= 0) return '';
  if (tokensOf(text) <= maxTokens) return text;
  // Tokens run about four characters: start near the answer and shrink until it fits.
  let cut = Math.min(text.length, maxTokens * 4);
  for (;;) {
    let piece = text.slice(0, cut);
    const sentence = piece.lastIndexOf('. ');
    if (sentence > cut / 2) piece = piece.slice(0, sentence + 1);
    else {
      const space = piece.lastIndexOf(' ');
      if (space > cut / 2) piece = `${piece.slice(0, space)}…`;
      else piece = `${piece}…`;
    }
    if (tokensOf(piece) <= maxTokens || cut <= 8) return piece;
    cut = Math.floor(cut * 0.8);
  }
}
