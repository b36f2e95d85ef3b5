// The host page of the `views` check, bundled for the browser (esbuild) and run in headless Chromium: the official
// AppBridge of @modelcontextprotocol/ext-apps on the host side, the view in a sandboxed iframe (scripts only, an
// opaque origin) under the policy its `_meta.ui.csp` declares, the handshake, the tool input and a tool result.
// Every CSP violation in the view is written to the console with a marker the check reads.
import { AppBridge, PostMessageTransport } from '@modelcontextprotocol/ext-apps/app-bridge';
import { CSP_MARKER, hostCsp, type PlayHostOptions, withHead } from './host-csp.ts';

/** Reports the view's CSP violations to the console (inline: the policy allows the view's inline code only). */
const REPORTER = `<script>document.addEventListener('securitypolicyviolation',function(e){console.error(${JSON.stringify(CSP_MARKER)}+' '+e.effectiveDirective+' '+(e.blockedURI||'inline'))})</script>`;

/** Loads a view and plays host for it; resolves with whether the view completed the handshake. */
async function playHost(options: PlayHostOptions): Promise<{ initialized: boolean }> {
  const iframe = document.createElement('iframe');
  iframe.setAttribute('sandbox', 'allow-scripts');
  iframe.title = 'view';
  iframe.style.width = '800px';
  iframe.style.height = '600px';
  const meta = `<meta http-equiv="Content-Security-Policy" content="${hostCsp(options.csp)}">`;
  iframe.srcdoc = withHead(options.html, `${meta}${REPORTER}`);
  document.body.append(iframe);
  const view = iframe.contentWindow as Window;
  const bridge = new AppBridge(
    null,
    { name: 'bmms-views-check', version: '1.0.0' },
    { serverTools: {} },
    { hostContext: { theme: 'light', displayMode: 'inline' } },
  );
  bridge.oncalltool = async () => ({
    content: [{ type: 'text', text: 'the views check calls no tool' }],
    isError: true,
  });
  const initialized = new Promise<boolean>((resolve) => {
    bridge.oninitialized = () => resolve(true);
    setTimeout(() => resolve(false), options.timeoutMs);
  });
  await bridge.connect(new PostMessageTransport(view, view));
  if (!(await initialized)) return { initialized: false };
  if (options.input) await bridge.sendToolInput({ arguments: options.input });
  if (options.result) await bridge.sendToolResult(options.result as Parameters<AppBridge['sendToolResult']>[0]);
  return { initialized: true };
}

(window as unknown as { playHost: typeof playHost }).playHost = playHost;
