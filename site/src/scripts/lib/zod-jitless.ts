// Imported before the AppBridge (module order is evaluation order): zod compiles no validator code, so it never
// probes `new Function`, which the dashboard's CSP forbids (the probe alone is reported as a violation).
import { config } from 'zod/v4';

config({ jitless: true });
