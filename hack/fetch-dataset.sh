#!/usr/bin/env bash
# Re-creates worker/data/stocks-daily.csv.gz from the PyPI package it was taken from and checks
# that the bytes are the ones committed. See worker/data/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WANT=5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd
DEST="$REPO_DIR/worker/data/stocks-daily.csv.gz"
dl="$CACHE_DIR/downloads/bokeh-sampledata-2026.1"
mkdir -p "$dl"
if ! ls "$dl"/*.whl >/dev/null 2>&1; then
  python3 -m pip download --quiet --no-deps --dest "$dl" bokeh-sampledata==2026.1 \
    || die "dataset: pip download bokeh-sampledata==2026.1 failed (is PyPI reachable?)"
fi
tmp="$(mktemp)"
python3 - "$dl" "$tmp" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("bokeh_sampledata/_data/stocks.csv.gz"))
PY
got="$(sha256sum "$tmp" | cut -d' ' -f1)"
[ "$got" = "$WANT" ] || { rm -f "$tmp"; die "dataset: sha256 $got differs from the expected $WANT"; }
mv "$tmp" "$DEST"
say "dataset: $DEST verified ($WANT)"
