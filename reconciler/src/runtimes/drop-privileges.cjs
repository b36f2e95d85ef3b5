// Preloaded (`node --require`) before an instance's bundle when the process runtime runs as root. The sandbox
// starts node as uid 0 holding only CAP_SETUID and CAP_SETGID; switching to the instance's own uid here, in the
// process itself, makes the kernel mark it non-dumpable (an exec after setpriv's switch would not): no other
// process of that uid can then read its /proc/<pid>/environ or /proc/<pid>/mem, nor ptrace it.
'use strict';
const spec = process.env.BMMS_RUN_AS ?? '';
delete process.env.BMMS_RUN_AS;
const match = /^(\d+):(\d+)$/.exec(spec);
if (!match) {
  process.stderr.write('BMMS_RUN_AS is not set: refusing to run as root\n');
  process.exit(97);
}
const uid = Number(match[1]);
const gid = Number(match[2]);
process.setgroups([]);
process.setgid(gid);
process.setuid(uid);
if (process.getuid() !== uid || process.geteuid() !== uid || process.getgid() !== gid || process.getegid() !== gid) {
  process.stderr.write('could not switch to the instance uid\n');
  process.exit(97);
}
// V8's compile cache, enabled now that files it writes belong to the instance (NODE_COMPILE_CACHE would have
// created its folder as uid 0, before the switch).
const cache = process.env.BMMS_COMPILE_CACHE;
delete process.env.BMMS_COMPILE_CACHE;
if (cache) require('node:module').enableCompileCache(cache);
