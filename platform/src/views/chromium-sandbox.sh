#!/bin/sh
# Chromium for the views check, inside bubblewrap: a customer's view is untrusted code, and Chromium runs here
# without its own sandbox. It gets no network (its own empty network namespace), nothing of the host but /usr and
# the font configuration (no data dir, no keys, no repositories), its own /tmp (256 MiB) and /dev/shm (512 MiB), and
# runs as nobody; the page's V8 heap is bounded by the check (--max-old-space-size).
# Playwright drives it over the inherited pipe (fds 3 and 4), which bubblewrap passes on; the environment is the
# small one Playwright was given (never the platform's own).
#   BMMS_CHROMIUM_REAL  the Chromium executable (a folder outside /usr is bound read-only too)
#   BMMS_BWRAP          bubblewrap (default /usr/bin/bwrap)
set -eu
real="${BMMS_CHROMIUM_REAL:?BMMS_CHROMIUM_REAL is not set}"
dir="$(dirname "$real")"
extra=""
case "$dir" in
  /usr/*) ;;
  *) extra="--ro-bind $dir $dir" ;;
esac
# shellcheck disable=SC2086 # $extra is two words or none
exec "${BMMS_BWRAP:-/usr/bin/bwrap}" \
  --unshare-all --die-with-parent --new-session \
  --uid 65534 --gid 65534 \
  --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin --symlink usr/sbin /sbin \
  --ro-bind-try /etc/fonts /etc/fonts --ro-bind-try /etc/ld.so.cache /etc/ld.so.cache \
  --ro-bind-try /etc/chromium.d /etc/chromium.d --ro-bind-try /etc/chromium /etc/chromium \
  $extra \
  --proc /proc --dev /dev --size 268435456 --tmpfs /tmp --size 536870912 --tmpfs /dev/shm --size 1048576 --tmpfs /run \
  --setenv HOME /tmp --unsetenv BMMS_CHROMIUM_REAL --unsetenv BMMS_BWRAP \
  -- "$real" "$@"
