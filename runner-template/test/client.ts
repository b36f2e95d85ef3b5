import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';

/** A fetch that talks HTTP over a unix socket. */
export function socketFetch(socketPath: string): typeof fetch {
  const dispatcher = new Agent({ connect: { socketPath } });
  return ((url: string | URL, init?: RequestInit) =>
    undiciFetch(url, { ...(init as object), dispatcher } as Parameters<
      typeof undiciFetch
    >[1])) as unknown as typeof fetch;
}

/** Connects the official SDK client to an instance's /mcp endpoint. */
export async function connectClient(baseUrl: string, customFetch?: typeof fetch): Promise<Client> {
  const client = new Client({ name: 'runner-template-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(
    new URL('/mcp', baseUrl),
    customFetch ? { fetch: customFetch } : {},
  );
  await client.connect(transport);
  return client;
}
