#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers, when missing and when we are root.
# Services are not started here: each test starts what it needs on ports chosen at run time.
set -euo pipefail
need=()
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v mosquitto_passwd >/dev/null || need+=(mosquitto)
command -v openssl >/dev/null || need+=(openssl)
command -v socat >/dev/null || need+=(socat)
# partition tests cut the cloud link of an edge in its own network namespace
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
# edged runs pods through a private containerd's CRI plugin with runc, CNI's bridge, and images
# built from busybox-static (no registry is reachable)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# the Modbus test peer runs on Debian's interpreter (another python3 may come first on PATH); its
# server module imports pyserial, which python3-pymodbus only recommends (not installed here)
# the web view's browser tests drive Debian's headless Chromium with playwright-core
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import pymodbus' 2>/dev/null || need+=(python3-pymodbus)
/usr/bin/python3 -c 'import serial, serial_asyncio' 2>/dev/null || need+=(python3-serial python3-serial-asyncio)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "provision: missing ${need[*]}; run as root or install them (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "provision: apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
