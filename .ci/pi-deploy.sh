#!/usr/bin/env bash
# The Raspberry Pi package, end to end, on a fresh Debian 12 machine as root (CI):
#  1. installs the cross toolchain when missing (`cargo xtask pi-deploy --install-deps` runs
#     the apt lines of xtask/src/prereq.rs: dpkg --add-architecture arm64, apt-get update once,
#     apt-get install rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
#     libc6-dev-arm64-cross qemu-user-static);
#  2. builds memmon for aarch64, glibc linked statically, checks it (ELF, static: no
#     interpreter and no NEEDED, kernel floor, no NSS function, line tables, --version and a
#     3-second `memmon test` under qemu) and packs it into target/pi-dist (same command);
#  3. checks the archive: its checksum, its files, install.sh into a scratch DESTDIR against
#     the users' unit (a stand-in systemctl show) and back out;
#  4. checks the unit with the generated drop-in, the shipped drop-ins and memmon.service with
#     systemd-analyze verify (.ci/run installs systemd for it).
# The Pi build keeps target/pi between runs; a cold build takes several minutes (fat LTO).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

dist=target/pi-dist
echo "== cargo xtask pi-deploy --install-deps --out $dist"
cargo xtask pi-deploy --install-deps --out "$dist"

archive=$(ls -t "$dist"/memmon-*-aarch64-linux.tar.gz | head -n 1)
top=$(basename "$archive" .tar.gz)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "== archive: checksum and contents"
(cd "$dist" && sha256sum -c "$(basename "$archive").sha256")
tar xzf "$archive" -C "$scratch"
pkg=$scratch/$top
for f in memmon install.sh client_config.json README-pi.md systemd/memmon.service \
    systemd/attendance-client-fixed.service.d/memmon.conf systemd/memmon-metrics.conf.example \
    prometheus/memmon.rules.yml prometheus/scrape.yml; do
    [ -f "$pkg/$f" ] || { echo "missing from the archive: $f" >&2; exit 1; }
done
[ -x "$pkg/memmon" ] && [ -x "$pkg/install.sh" ] || { echo "memmon and install.sh must be executable" >&2; exit 1; }
echo "all 9 files present"

# The client's unit as the users' setup scripts write it: WorkingDirectory= the checkout,
# User= whoever installed it, the script relative to the checkout.
unit_text() {
    cat <<UNIT
[Unit]
Description=NFC attendance client (as the users' setup scripts write it)
After=network-online.target pcscd.service

[Service]
Type=simple
User=$1
Group=pcscd
WorkingDirectory=$2
ExecStartPre=/bin/sh -c 'until pidof pcscd >/dev/null; do sleep 1; done'
ExecStart=/bin/bash start_pi.sh
Restart=always
RestartSec=10
Environment=PYTHONUNBUFFERED=1
Environment=LANG=ja_JP.UTF-8

[Install]
WantedBy=multi-user.target
UNIT
}

echo "== install.sh into a scratch DESTDIR (systemctl show answered by a stand-in), then --uninstall"
# systemd is not PID 1 in CI: xtask/tests/fake-systemctl answers `systemctl show` from the
# unit files below the DESTDIR, as systemd prints it (install.sh's tests use it too).
root=$scratch/root
mkdir -p "$scratch/bin" "$root/etc/systemd/system"
cp xtask/tests/fake-systemctl "$scratch/bin/systemctl"
unit_text pi "/home/pi/attendance checkout" > "$root/etc/systemd/system/attendance-client-fixed.service"
PATH="$scratch/bin:$PATH" FAKE_SYSTEMCTL_ROOT=$root DESTDIR=$root sh "$pkg/install.sh"
dropin=$root/etc/systemd/system/attendance-client-fixed.service.d/memmon.conf
grep -qx 'ExecStart=/usr/local/bin/memmon run --children -- /bin/bash start_pi.sh' "$dropin" \
    || { echo "the drop-in does not wrap the unit's command:" >&2; cat "$dropin" >&2; exit 1; }
grep -qx 'KillMode=mixed' "$dropin" || { echo "the drop-in does not set KillMode=mixed" >&2; exit 1; }
cp "$dropin" "$scratch/generated.conf"
PATH="$scratch/bin:$PATH" FAKE_SYSTEMCTL_ROOT=$root DESTDIR=$root sh "$pkg/install.sh" --uninstall
left=$(find "$root" -type f ! -name attendance-client-fixed.service | wc -l)
[ "$left" = 0 ] || { echo "uninstall left $left files" >&2; find "$root" -type f >&2; exit 1; }
echo "installed (the unit's own command wrapped) and uninstalled cleanly"

echo "== systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze is not installed"
    exit 0
fi
# verify checks that ExecStart= programs exist and are executable: /usr/local/bin/memmon is
# not installed here, so it points at the packaged binary instead. It does not check users.
# An unparsable line is only a warning to it (exit 0), and one in the drop-in would leave the
# unit without ExecStart=: any output fails the check.
verify() {
    out=$(SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$@" 2>&1) || { echo "$out" >&2; return 1; }
    [ -z "$out" ] || { echo "$out" >&2; return 1; }
}
units=$scratch/units
mkdir -p "$units/attendance-client-fixed.service.d"
unit_text pi "/home/pi/attendance checkout" > "$units/attendance-client-fixed.service"
for dropin in "$scratch/generated.conf" "$pkg/systemd/attendance-client-fixed.service.d/memmon.conf" \
    "$pkg/systemd/memmon-metrics.conf.example"; do
    sed "s#/usr/local/bin/memmon#$pkg/memmon#" "$dropin" > "$units/attendance-client-fixed.service.d/memmon.conf"
    verify "$units/attendance-client-fixed.service"
    echo "drop-in: ok (attendance-client-fixed.service + $(basename "$dropin"))"
done
rm -r "$units/attendance-client-fixed.service.d"
sed "s#/usr/local/bin/memmon#$pkg/memmon#" "$pkg/systemd/memmon.service" > "$units/memmon.service"
verify "$units/memmon.service"
echo "memmon.service: ok"
