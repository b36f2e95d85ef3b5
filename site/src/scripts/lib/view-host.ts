/**
 * The change review page as an MCP Apps host (loaded when a reviewer opens a view): the official AppBridge of
 * @modelcontextprotocol/ext-apps, the view in a sandboxed iframe (scripts only: an opaque origin, no cookie, no API
 * as the reviewer) loaded from the API, which serves it under the CSP its `_meta.ui.csp` declares. The bridge hands
 * the view the tool's arguments and its real result from the preview, and answers the view's own tool calls by
 * calling the preview's tools.
 */
import './zod-jitless.ts';
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';

type CallToolResult = Awaited<ReturnType<NonNullable<AppBridge['oncalltool']>>>;

export interface ShowViewOptions {
  /** The API address of the view's document. */
  src: string;
  /** The iframe's accessible name. */
  title: string;
  /** The arguments the tool was called with, and its result. */
  input: Record<string, unknown>;
  result: Record<string, unknown>;
  /** Calls a tool of the preview for the view (its own calls back to the server). */
  callTool(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Tells the page what the view is doing (connected, its result delivered). */
  status(text: string): void;
}

/** How long a view may take to complete the ui/initialize handshake. */
const HANDSHAKE_MS = 15_000;

const theme = (): 'light' | 'dark' => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');

/** Shows a view in `holder` and delivers its input and result; resolves once delivered, or throws why not. */
export async function showView(holder: HTMLElement, options: ShowViewOptions): Promise<AppBridge> {
  const iframe = document.createElement('iframe');
  iframe.setAttribute('sandbox', 'allow-scripts');
  iframe.title = options.title;
  iframe.className = 'view-frame';
  holder.replaceChildren(iframe);
  const target = iframe.contentWindow as Window;
  const bridge = new AppBridge(
    null,
    { name: 'BuildMyMCPServer change review', version: '1.0.0' },
    { serverTools: {}, openLinks: {} },
    { hostContext: { theme: theme(), displayMode: 'inline', availableDisplayModes: ['inline'], platform: 'web' } },
  );
  bridge.oncalltool = async (params) =>
    (await options.callTool(params.name, params.arguments ?? {})) as unknown as CallToolResult;
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${Math.min(Math.max(height, 120), 1200)}px`;
  };
  bridge.onopenlink = async ({ url }) => {
    if (/^https?:\/\//.test(url)) window.open(url, '_blank', 'noopener,noreferrer');
    return {};
  };
  bridge.onmessage = async () => ({});
  const initialized = new Promise<boolean>((resolve) => {
    bridge.oninitialized = () => resolve(true);
    setTimeout(() => resolve(false), HANDSHAKE_MS);
  });
  // Listening before the view loads: its ui/initialize is its first message.
  await bridge.connect(new PostMessageTransport(target, target));
  iframe.src = options.src;
  if (!(await initialized)) {
    throw new Error(`the view did not connect to the host within ${HANDSHAKE_MS / 1000} s (no ui/initialize)`);
  }
  options.status('Connected; delivering the result…');
  await bridge.sendToolInput({ arguments: options.input });
  await bridge.sendToolResult(options.result as Parameters<AppBridge['sendToolResult']>[0]);
  options.status('The view shows the preview’s result.');
  return bridge;
}
