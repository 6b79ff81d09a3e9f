#!/usr/bin/env bash
# Fetch the JavaScript the book needs to render math and widgets with no network,
# from the npm registry (pinned versions, tarballs checked by SHA-256), into book/_vendor/.
#
#   mathjax 3                    -> book/_vendor/mathjax/      (sphinx: mathjax_path)
#   @jupyter-widgets/html-manager -> book/_vendor/widgets/     (nb_ipywidgets_js: embed-amd.js + fonts)
#   requirejs                    -> book/_vendor/widgets/require.js
#
# The folder is git-ignored and listed in html_static_path, NOT under book/_static/
# (every .js/.css there would be added to every page).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/../_vendor"
stamp="$dest/.fetched"

# name@version  sha256-of-the-registry-tarball
PINS=(
  "mathjax@3.2.2 1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
  "@jupyter-widgets/html-manager@1.0.15 2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638"
  "requirejs@2.3.8 777158e89275e16bd51aec3ef714fbcb5dc45789e7078659933bc814916d7dec"
)
want="$(printf '%s\n' "${PINS[@]}")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0  # already fetched at these versions
fi

command -v npm >/dev/null || { echo "error: npm is needed to fetch MathJax and the widget manager" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for pin in "${PINS[@]}"; do
  spec="${pin% *}"; sum="${pin#* }"
  tgz="$(cd "$tmp" && npm pack --silent "$spec" | tail -n 1)"
  echo "$sum  $tmp/$tgz" | sha256sum --check --quiet \
    || { echo "error: checksum mismatch for $spec" >&2; exit 1; }
  mkdir -p "$tmp/${tgz%.tgz}" && tar xzf "$tmp/$tgz" -C "$tmp/${tgz%.tgz}"
done

rm -rf "$dest" && mkdir -p "$dest/mathjax" "$dest/widgets"
# MathJax: the es5 components minus the SVG and "full" bundles we never load.
cp -r "$tmp"/mathjax-3.2.2/package/es5/. "$dest/mathjax/"
rm -f "$dest"/mathjax/{mml-svg,tex-svg,tex-svg-full,tex-mml-svg,tex-chtml-full,tex-chtml-full-speech,node-main}.js
# The widget manager: embed-amd.js is self-contained (base, controls, output); its fonts sit beside it.
hm="$tmp/jupyter-widgets-html-manager-1.0.15/package/dist"
cp "$hm"/embed-amd.js "$hm"/*.{woff,woff2,ttf,eot,svg} "$dest/widgets/"
cp "$tmp"/requirejs-2.3.8/package/require.js "$dest/widgets/require.js"
echo "$want" > "$stamp"
echo "fetched $(du -sh "$dest" | cut -f1) of JavaScript into book/_vendor/"
