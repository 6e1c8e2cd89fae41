#!/usr/bin/env bash
# The Raspberry Pi package, end to end, on a fresh Debian 12 machine as root (CI):
#  1. installs the cross toolchain when missing (`cargo xtask pi-deploy --install-deps` runs
#     the apt lines of xtask/src/prereq.rs: dpkg --add-architecture arm64, apt-get update once,
#     apt-get install rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu
#     libc6-dev-arm64-cross qemu-user-static);
#  2. builds memmon for aarch64, glibc linked statically, checks it (ELF, static: no
#     interpreter and no NEEDED, kernel floor, no NSS function, line tables, --version and a
#     3-second `memmon test` under qemu) and packs it into target/pi-dist (same command);
#  3. checks the archive: its checksum, its files, install.sh into a scratch DESTDIR and back out;
#  4. checks the systemd files with systemd-analyze verify, when it is there.
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

echo "== install.sh into a scratch DESTDIR, then --uninstall"
DESTDIR=$scratch/root sh "$pkg/install.sh"
DESTDIR=$scratch/root sh "$pkg/install.sh" --uninstall
left=$(find "$scratch/root" -type f | wc -l)
[ "$left" = 0 ] || { echo "uninstall left $left files" >&2; find "$scratch/root" -type f >&2; exit 1; }
echo "installed and uninstalled cleanly"

echo "== systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "skipped: systemd-analyze is not installed"
    exit 0
fi
# verify checks that ExecStart= programs exist and are executable: /usr/local/bin/memmon is
# not installed here, so it points at the packaged binary instead. It does not check users,
# so User=raspberry is fine. The drop-in is checked on a copy of the client's unit as the
# guide's Pi has it; without its empty ExecStart= line verify refuses ("more than one
# ExecStart=").
units=$scratch/units
mkdir -p "$units/attendance-client-fixed.service.d"
cat > "$units/attendance-client-fixed.service" <<'UNIT'
[Unit]
Description=NFC attendance client (as on the Pi, for the drop-in check)
After=network-online.target pcscd.service

[Service]
Type=simple
User=raspberry
Group=pcscd
WorkingDirectory=/home/raspberry/Desktop/attendance/card_reader_improved
ExecStartPre=/bin/sleep 10
ExecStart=/bin/bash /home/raspberry/Desktop/attendance/card_reader_improved/start_pi.sh
Restart=always
RestartSec=10
Environment=PYTHONUNBUFFERED=1
Environment=LANG=ja_JP.UTF-8

[Install]
WantedBy=multi-user.target
UNIT
sed "s#/usr/local/bin/memmon#$pkg/memmon#" "$pkg/systemd/attendance-client-fixed.service.d/memmon.conf" \
    > "$units/attendance-client-fixed.service.d/memmon.conf"
sed "s#/usr/local/bin/memmon#$pkg/memmon#" "$pkg/systemd/memmon.service" > "$units/memmon.service"
# The trailing ':' keeps systemd's own unit directories after ours.
SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$units/attendance-client-fixed.service"
echo "drop-in: ok (attendance-client-fixed.service + memmon.conf)"
systemd-analyze verify "$units/memmon.service"
echo "memmon.service: ok"
