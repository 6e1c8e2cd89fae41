#!/bin/sh
# Rebuilds crates/memmon-analyze/assets/memmon-labels.otf: the glyphs of `memmon analyze --plot`'s
# fixed labels (assets/subset-chars.txt) plus printable ASCII, cut from Noto Sans CJK JP
# Regular (SIL Open Font License 1.1) as shipped by Debian's `fonts-noto-cjk` package.
# Needs: apt-get (Debian/Ubuntu), dpkg-deb, python3 with pip. Run from anywhere.
# When a label in src/font.rs, or a line of the verdict band (src/panel.rs,
# report.rs), gains a character, add it to subset-chars.txt and rerun.
# Layout tables and vertical metrics are dropped: plotters draws horizontal text glyph by glyph.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
assets="$root/crates/memmon-analyze/assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v pyftsubset >/dev/null 2>&1 || python3 -m pip install --quiet 'fonttools>=4.40'
cd "$work"
apt-get download fonts-noto-cjk
dpkg-deb -x fonts-noto-cjk_*.deb pkg
ttc=pkg/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
# Font number 0 of the collection is "Noto Sans CJK JP".
pyftsubset "$ttc" --font-number=0 \
  --text-file="$assets/subset-chars.txt" --unicodes='U+0020-007E,U+00B2,U+2014' \
  --layout-features='' --no-hinting --desubroutinize \
  --drop-tables+=vhea,vmtx,VORG,BASE,GSUB,GPOS,DSIG \
  --name-IDs='0,1,2,3,4,5,6,13,14' --name-languages='0x409' \
  --output-file="$assets/memmon-labels.otf"
# The licence travels with the font: its own copyright notice, then the OFL text from the
# package's copyright file (the paragraph "License: SIL-1.1", continuation lines unindented).
{
  python3 -c 'import sys; from fontTools.ttLib import TTFont; print(TTFont(sys.argv[1])["name"].getDebugName(0))' \
    "$assets/memmon-labels.otf"
  echo
  awk '/^License: SIL-1.1$/ && !/Files/ { n++ } n == 2 && /^License: / && !/SIL-1.1/ { exit }
       n == 2 && /^ / { sub(/^ /, ""); if ($0 == ".") $0 = ""; print }' \
    pkg/usr/share/doc/fonts-noto-cjk/copyright
} > "$assets/LICENSE-OFL.txt"
ls -l "$assets/memmon-labels.otf"
