// Preloaded (`node --require`) before a confined instance's bundle (the process runtime without bubblewrap, see
// confined.ts). Node's permission model does not gate signals, priorities or descriptors, and without root every
// confined instance runs as the platform's own user: process.kill could stop the platform or another server,
// process._debugProcess would open the platform's inspector (SIGUSR1) to anything on the host, os.setPriority could
// starve it, v8.setFlagsFromString would undo flags it runs under, and a descriptor the platform inherited without close-on-exec would be readable here whatever the
// permission model says. So an instance may signal and renice itself only, never start a debugger elsewhere, and
// the platform's inherited descriptors are closed before any of the bundle runs. (process.binding, which would
// reach the raw calls, is refused by the permission model.) As root, it then drops to the instance's own uid
// (drop-privileges.cjs), as the sandbox does.
'use strict';
const denied = (what) => {
  const err = new Error(`A confined instance may not ${what}`);
  err.code = 'ERR_ACCESS_DENIED';
  return err;
};
const lock = (target, name, value) =>
  Object.defineProperty(target, name, { value, writable: false, configurable: false, enumerable: false });

// The pid is converted once and that number is what reaches the raw call: an object whose valueOf answers
// differently on each call cannot pass the check as one process and be signalled as another.
const guardKill = (original) =>
  function kill(pid, signal) {
    const target = Number(pid);
    if (target !== process.pid) throw denied(`signal other processes (pid ${target})`);
    return original.call(process, target, signal);
  };
for (const name of ['kill', '_kill']) {
  const original = process[name];
  if (typeof original === 'function') lock(process, name, guardKill(original));
}
if (typeof process._debugProcess === 'function') {
  lock(process, '_debugProcess', (pid) => {
    throw denied(`start the inspector of another process (pid ${Number(pid)})`);
  });
}

const os = require('node:os');
const setPriority = os.setPriority;
lock(os, 'setPriority', function guardedSetPriority(pid, priority) {
  // setPriority(priority) and setPriority(0 or its own pid, priority) change this process only.
  if (priority === undefined) return setPriority.call(os, pid);
  const target = Number(pid);
  if (target !== 0 && target !== process.pid) throw denied(`change the priority of other processes (pid ${target})`);
  return setPriority.call(os, target, priority);
});
// V8 flags set at run time could turn on its internal functions (`--allow-natives-syntax`, some memory-unsafe) or
// code generation from strings again: an instance keeps the flags it was started with.
const v8 = require('node:v8');
lock(v8, 'setFlagsFromString', (flags) => {
  throw denied(`change V8's flags (${String(flags).slice(0, 100)})`);
});
require('node:module').syncBuiltinESMExports();

// Descriptors the platform holds without close-on-exec (from whatever started it) are inherited by every child;
// the platform lists them (at spawn, so each number still names the inherited one here).
const inherited = process.env.BMMS_CLOSE_FDS;
delete process.env.BMMS_CLOSE_FDS;
if (inherited) {
  const { closeSync } = require('node:fs');
  for (const fd of inherited.split(',')) {
    try {
      closeSync(Number(fd));
    } catch {
      // already closed
    }
  }
}

if (process.env.BMMS_RUN_AS) require('./drop-privileges.cjs');
