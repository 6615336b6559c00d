#!/usr/bin/env bash
# Installs tern as a gateway would and checks the result: packs the package (npm pack), installs
# the tarball into an empty prefix with `npm install -g --omit=dev`, then
#   - the installed size is at most INSTALL_LIMIT_BYTES (default 40 MB = 40,000,000 bytes on disk);
#   - `tern --version` names the package;
#   - `tern demo` serves live values that mosquitto_sub receives within a few seconds;
#   - the container image's layout script (deploy/container/layout.sh, as the Dockerfile runs it)
#     works on the installed package;
#   - OPC-UA, Bluetooth LE and `tern cloud` without their optional packages fail with
#     DEPENDENCY_MISSING and the npm command that adds them, no stack trace.
# Prints one line per check, "ok - ..." or "not ok - ...", then a JSON line with the sizes.
# Needs npm (registry or its cache) and mosquitto_sub (Debian package mosquitto-clients).
# Usage: bash scripts/install-check.sh [TARBALL]   (without TARBALL it runs npm pack)
set -uo pipefail
cd "$(dirname "$0")/.."
limit=${INSTALL_LIMIT_BYTES:-40000000}
work=$(mktemp -d)
demo_pid=
cleanup() {
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null; wait "$demo_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }

tarball=${1:-}
if [ -z "$tarball" ]; then
  if ! tarball_name=$(npm pack --silent --pack-destination "$work" 2>"$work/pack.log" | tail -1); then
    cat "$work/pack.log" >&2
    not_ok "npm pack"
    echo "1 checks failed"
    exit 1
  fi
  tarball="$work/$tarball_name"
fi
ok "packed $(basename "$tarball") ($(stat -c %s "$tarball") bytes)"
tar -tzf "$tarball" >"$work/contents"
for f in package/LICENSE package/README.md package/dist/cli/tern.js package/deploy/systemd/tern-edge.service package/examples/modbus/devices/fan.yaml; do
  if grep -qx "$f" "$work/contents"; then ok "tarball has ${f#package/}"; else not_ok "tarball lacks ${f#package/}"; fi
done

prefix="$work/prefix"
mkdir -p "$prefix"
if npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund --prefer-offline "$tarball" >"$work/install.log" 2>&1; then
  ok "npm install -g --omit=dev into an empty prefix"
else
  cat "$work/install.log" >&2
  not_ok "npm install -g --omit=dev into an empty prefix"
fi
tern="$prefix/bin/tern"

bytes=$(du -s -B1 "$prefix" | cut -f1)
apparent=$(du -s -b "$prefix" | cut -f1)
if [ "$bytes" -le "$limit" ]; then ok "installed size $bytes bytes on disk <= $limit"; else not_ok "installed size $bytes bytes on disk > $limit"; fi
echo "installed packages: $(ls "$prefix/lib/node_modules/tern-edge/node_modules" 2>/dev/null | tr '\n' ' ')"

version=$("$tern" --version 2>&1)
if [[ "$version" =~ ^tern-edge\ [0-9]+\.[0-9]+\.[0-9]+ ]]; then ok "tern --version: $version"; else not_ok "tern --version printed: $version"; fi

# the demo on a port the OS chooses; its first lines say where the broker listens
"$tern" demo --mqtt-port 0 >"$work/demo.out" 2>"$work/demo.err" &
demo_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(grep -o 'listens on 127.0.0.1:[0-9]*' "$work/demo.out" 2>/dev/null | cut -d: -f2)
  [ -n "$port" ] && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  cat "$work/demo.out" "$work/demo.err" >&2
  not_ok "tern demo started"
else
  ok "tern demo started, broker on port $port"
  if value=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t '$hw/events/device/fan-1/twin/update/result' -C 1 -W 15 2>&1) && [[ "$value" == *'"twin":{'* ]]; then
    ok "mosquitto_sub received a twin result: ${value:0:100}"
  else
    not_ok "mosquitto_sub received no twin result: $value"
  fi
  kill "$demo_pid"
  wait "$demo_pid"
  rc=$?
  demo_pid=
  if [ "$rc" -eq 0 ]; then ok "tern demo stopped cleanly on SIGTERM"; else not_ok "tern demo exited $rc on SIGTERM"; fi
fi

# the container image's layout, made by the script the Dockerfile runs, against this prefix
root="$work/root"
if sh "$prefix/lib/node_modules/tern-edge/deploy/container/layout.sh" "$prefix" "$root" >"$work/layout.log" 2>&1 \
  && [ "$(stat -c %a "$root/var/lib/tern")" = 750 ] && [ -r "$root/etc/tern/edge.yaml" ] \
  && { [ "$(id -u)" -ne 0 ] || [ "$(stat -c %u:%g "$root/var/lib/tern")" = 65532:65532 ]; }; then
  ok "container layout (deploy/container/layout.sh): data directory for uid 65532, default config, examples"
else
  cat "$work/layout.log" >&2
  not_ok "container layout (deploy/container/layout.sh)"
fi

# optional packages (peer dependencies) a gateway adds only when it uses them
for cmd in "mapper opcua --broker mqtt://127.0.0.1:1 --node n" "mapper bluetooth --broker mqtt://127.0.0.1:1 --node n" "cloud"; do
  # shellcheck disable=SC2086
  out=$("$tern" $cmd 2>&1)
  rc=$?
  if [ "$rc" -eq 1 ] && [[ "$out" == "tern: DEPENDENCY_MISSING: "*"npm install -g '"* ]] && [[ "$out" != *"    at "* ]]; then
    ok "tern $cmd without its optional package: DEPENDENCY_MISSING"
  else
    not_ok "tern $cmd without its optional package (exit $rc): $out"
  fi
done

echo "{\"bench\":\"install\",\"tarballBytes\":$(stat -c %s "$tarball"),\"installedBytesOnDisk\":$bytes,\"installedBytesApparent\":$apparent,\"limitBytes\":$limit}"
echo "$failed checks failed"
[ "$failed" -eq 0 ]
