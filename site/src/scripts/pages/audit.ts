/** /settings/: the audit log section (its own island, so the rest of the settings never wait for it). */
import { auditPanel } from '../lib/audit.ts';
import { byId, errorBox, mount } from '../lib/dom.ts';

const panel = byId('audit-panel');
auditPanel(panel).catch((err) => mount(panel, errorBox((err as Error).message)));
