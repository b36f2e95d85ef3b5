/** Install snippets for each MCP client, from a server's name and URL. */

export interface Snippet {
  client: string;
  /** Text to copy (command, JSON or steps). */
  text: string;
  /** A link that installs it directly, when the client has one. */
  link?: { href: string; label: string };
}

const b64 = (s: string) => btoa(unescape(encodeURIComponent(s)));

/** The snippets for Claude Code, Claude Desktop, claude.ai, ChatGPT, Cursor and VS Code. */
export function installSnippets(name: string, url: string): Snippet[] {
  const cursorConfig = JSON.stringify({ url });
  const vscode = JSON.stringify({ name, type: 'http', url });
  return [
    { client: 'Claude Code', text: `claude mcp add --transport http ${name} ${url}` },
    {
      client: 'Claude Desktop',
      text: JSON.stringify({ mcpServers: { [name]: { command: 'npx', args: ['-y', 'mcp-remote', url] } } }, null, 2),
    },
    { client: 'claude.ai', text: `Settings → Connectors → Add custom connector\nName: ${name}\nURL: ${url}` },
    {
      client: 'ChatGPT',
      text: `Settings → Connectors → Create (developer mode)\nName: ${name}\nMCP server URL: ${url}\nAuthentication: OAuth`,
    },
    {
      client: 'Cursor',
      text: JSON.stringify({ mcpServers: { [name]: { url } } }, null, 2),
      link: {
        href: `cursor://anysphere.cursor-deeplink/mcp/install?name=${encodeURIComponent(name)}&config=${encodeURIComponent(b64(cursorConfig))}`,
        label: 'Add to Cursor',
      },
    },
    {
      client: 'VS Code',
      text: `code --add-mcp '${vscode}'`,
      link: { href: `vscode:mcp/install?${encodeURIComponent(vscode)}`, label: 'Install in VS Code' },
    },
  ];
}
