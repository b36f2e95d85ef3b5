/** What a pull request's body is made of. */
export interface PullFacts {
  server: string;
  /** The change's number on the platform. */
  number: number;
  /** What the change does (its description). */
  summary: string;
  /** The change's page on the dashboard. */
  changeUrl: string;
  /** The server's MCP endpoint (what the install snippet adds). */
  mcpUrl: string;
  /** The checks of the head, once known: name, conclusion (null while running) and their one-line summary. */
  checks: { name: string; conclusion: string | null; summary: string }[] | null;
  /** The tool-surface diff against main, as Markdown lines, once the surface check ran. */
  surface: string[] | null;
  /** The change's preview MCP URL, once it serves. */
  previewUrl: string | null;
}

const ICONS: Record<string, string> = {
  success: '✅',
  neutral: '➖',
  skipped: '➖',
  failure: '❌',
  cancelled: '⏹️',
  timed_out: '⏱️',
};

/** One table cell: no pipe or line break may end it early. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/**
 * The body a reviewer wants on the pull request: what the change does, what it does to the tool surface, how its
 * checks went, where its preview runs and how to install the server, with links back to the dashboard.
 */
export function pullBody(facts: PullFacts): string {
  const lines: string[] = [];
  lines.push(facts.summary.trim() || `Change #${facts.number} of ${facts.server}.`, '');
  lines.push('### Tool surface', '');
  if (facts.surface === null) lines.push('_Computed by the `surface` check; shown here once it ran._');
  else if (facts.surface.length === 0) lines.push('No tool changes.');
  else lines.push(...facts.surface);
  lines.push('', '### Checks', '');
  if (facts.checks === null || facts.checks.length === 0) {
    lines.push('_Running: each check reports here and as a check run of this pull request._');
  } else {
    lines.push('| Check | Result | |', '| --- | --- | --- |');
    for (const check of facts.checks) {
      const result = check.conclusion === null ? '⏳ running' : `${ICONS[check.conclusion] ?? ''} ${check.conclusion}`;
      lines.push(`| \`${check.name}\` | ${result} | ${cell(check.summary)} |`);
    }
  }
  lines.push('', '### Preview', '');
  lines.push(
    facts.previewUrl
      ? `The change runs at ${facts.previewUrl} (an MCP endpoint; your platform key or an OAuth sign-in opens it).`
      : '_The preview starts once the static checks pass._',
  );
  lines.push('', '### Install', '', 'Once merged and deployed, add the server to an MCP client:', '');
  lines.push('```sh', `claude mcp add --transport http ${facts.server} ${facts.mcpUrl}`, '```', '');
  lines.push(`Details, logs and the try-it panel: [change #${facts.number} on the dashboard](${facts.changeUrl}).`);
  lines.push('', '<!-- bmms: this description is written by the platform and rewritten as checks finish. -->');
  return lines.join('\n');
}
