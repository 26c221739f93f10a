#!/usr/bin/env bash
# Install the Debian packages tinycompress needs, only those that are missing.
# As root: apt-get update + install. Otherwise: print the exact command and fail.
set -euo pipefail

missing=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=(gcc-arm-none-eabi)
# newlib-nano (used through --specs=nano.specs) ships the spec file and libc_nano.a.
[ -e /usr/lib/arm-none-eabi/newlib/nano.specs ] || missing+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
# `tinycompress flash`: openocd (ST-LINK, NUCLEO configs), st-flash as the fallback.
command -v openocd >/dev/null 2>&1 || missing+=(openocd)
command -v st-flash >/dev/null 2>&1 || missing+=(stlink-tools)
# The report test renders report.html in headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "run as root: sudo sh -c '$cmd'" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
