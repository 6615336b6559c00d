#!/bin/sh
# The image's file-system layout, made by the Dockerfile after installing tern into PREFIX, and run
# by scripts/install-check.sh against a test prefix and root, so CI checks the same steps without
# a container engine. Usage: layout.sh PREFIX ROOT
#   PREFIX/bin/tern runs; PREFIX/lib/node_modules/tern-edge has the examples `tern demo` serves;
#   ROOT/var/lib/tern is the data directory, owned by uid/gid 65532 (when run as root), mode 0750;
#   ROOT/etc/tern/edge.yaml is the default edge config (listens on 0.0.0.0: reachable from outside
#   the container, so it requires authentication).
set -eu
prefix=$1
root=${2%/}
uid=65532
pkg="$prefix/lib/node_modules/tern-edge"
"$prefix/bin/tern" --version
test -r "$pkg/examples/modbus/devices/fan.yaml" || { echo "layout: $pkg/examples missing (tern demo needs them)" >&2; exit 1; }
mkdir -p "$root/var/lib/tern" "$root/etc/tern/devices"
chmod 0750 "$root/var/lib/tern"
if [ "$(id -u)" -eq 0 ]; then chown "$uid:$uid" "$root/var/lib/tern"; fi
cp "$pkg/deploy/container/edge.yaml" "$root/etc/tern/edge.yaml"
chmod 0644 "$root/etc/tern/edge.yaml"
echo "layout: tern in $prefix, data in $root/var/lib/tern, config $root/etc/tern/edge.yaml"
