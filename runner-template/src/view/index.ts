/**
 * The view's side of MCP Apps (the `io.modelcontextprotocol/ui` extension), for the script of a `ui/` view: the
 * `ui/initialize` handshake with the host over `postMessage`, the tool input and result the host delivers, the
 * host's theme, calls back to the server's tools, and size reports. It does what `App` of
 * `@modelcontextprotocol/ext-apps` does for a view, in a few kilobytes instead of that class's ~650 kB bundle
 * (it brings an MCP client and all of zod), so every view stays within its size budget.
 */

/** The protocol version of the extension this bridge speaks. */
export const UI_PROTOCOL_VERSION = '2026-01-26';

/** A tool result as the host delivers it: text for the model, `structuredContent` for the view. */
export interface ToolResult {
  content?: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** What the host says about itself and its look: `theme` and the CSS variables a view should follow. */
export interface HostContext {
  theme?: 'light' | 'dark';
  styles?: { variables?: Record<string, string | undefined> };
  [key: string]: unknown;
}

/** What a view handles; every handler is optional. */
export interface ViewOptions {
  name: string;
  version: string;
  /** The result of the tool call the view was opened for (and of later calls the host delivers). */
  onToolResult?(result: ToolResult): void;
  /** The arguments of that call, before its result arrives. */
  onToolInput?(args: Record<string, unknown>): void;
  /** The host's context changed (theme, size); the bridge has applied theme and variables already. */
  onHostContext?(context: HostContext): void;
}

/** A connected view. */
export interface View {
  /** The host's context at connect time. */
  readonly hostContext: HostContext;
  /** Calls one of the server's tools through the host. */
  callTool(name: string, args?: Record<string, unknown>): Promise<ToolResult>;
}

interface Message {
  jsonrpc: '2.0';
  id?: number | string;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string };
}

/** Sets `data-theme` on the root element and the host's CSS variables, so `var(--color-…)` follows the host. */
export function applyHostContext(context: HostContext): void {
  const root = document.documentElement;
  if (context.theme) {
    root.dataset.theme = context.theme;
    root.style.colorScheme = context.theme;
  }
  for (const [name, value] of Object.entries(context.styles?.variables ?? {})) {
    if (name.startsWith('--') && typeof value === 'string') root.style.setProperty(name, value);
  }
}

/** Connects to the host (the parent window): resolves once the handshake is done. */
export function connectView(options: ViewOptions): Promise<View> {
  const host = window.parent;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  const post = (message: Omit<Message, 'jsonrpc'>) => host.postMessage({ jsonrpc: '2.0', ...message }, '*');
  const request = (method: string, params: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      post({ id, method, params });
    });

  window.addEventListener('message', (event: MessageEvent) => {
    if (event.source !== host) return;
    const message = event.data as Message;
    if (typeof message !== 'object' || message === null || message.jsonrpc !== '2.0') return;
    if (message.method === undefined && typeof message.id === 'number') {
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiting?.reject(new Error(message.error.message));
      else waiting?.resolve(message.result);
      return;
    }
    const params = message.params ?? {};
    if (message.method === 'ui/notifications/tool-result') options.onToolResult?.(params as ToolResult);
    else if (message.method === 'ui/notifications/tool-input') {
      options.onToolInput?.((params.arguments ?? {}) as Record<string, unknown>);
    } else if (message.method === 'ui/notifications/host-context-changed') {
      applyHostContext(params as HostContext);
      options.onHostContext?.(params as HostContext);
    } else if (message.id !== undefined && message.method !== undefined) {
      // Requests from the host (ping, teardown): nothing to clean up, answer at once.
      post({ id: message.id, result: {} });
    }
  });

  return request('ui/initialize', {
    appInfo: { name: options.name, version: options.version },
    appCapabilities: {},
    protocolVersion: UI_PROTOCOL_VERSION,
  }).then((answer) => {
    const hostContext = ((answer as { hostContext?: HostContext }).hostContext ?? {}) as HostContext;
    applyHostContext(hostContext);
    post({ method: 'ui/notifications/initialized', params: {} });
    const report = () => {
      const { scrollWidth: width, scrollHeight: height } = document.documentElement;
      post({ method: 'ui/notifications/size-changed', params: { width, height } });
    };
    new ResizeObserver(report).observe(document.documentElement);
    return {
      hostContext,
      callTool: (name, args = {}) => request('tools/call', { name, arguments: args }) as Promise<ToolResult>,
    };
  });
}
