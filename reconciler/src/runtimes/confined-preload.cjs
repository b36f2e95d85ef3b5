// Preloaded (`node --require`) before a confined instance's bundle (the process runtime without bubblewrap, see
// confined.ts). Node's permission model does not gate signals, and without root every confined instance runs as
// the platform's own user: process.kill could stop the platform or another server. Here an instance may signal
// itself only. (process.binding, which would reach the raw call, is refused by the permission model.) As root, it
// then drops to the instance's own uid (drop-privileges.cjs), as the sandbox does.
'use strict';
const guard = (original) =>
  function kill(pid, signal) {
    if (Number(pid) !== process.pid) {
      const err = new Error(`A confined instance may not signal other processes (pid ${pid})`);
      err.code = 'ERR_ACCESS_DENIED';
      throw err;
    }
    return original.call(process, pid, signal);
  };
for (const name of ['kill', '_kill']) {
  const original = process[name];
  if (typeof original !== 'function') continue;
  Object.defineProperty(process, name, { value: guard(original), writable: false, configurable: false });
}
if (process.env.BMMS_RUN_AS) require('./drop-privileges.cjs');
