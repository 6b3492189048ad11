#!/usr/bin/env bash
# Lay out the rule pack a ttpflow job reads (--rules-dir DEST) from the image's bundled pack and
# the site's rule files. On Kubernetes this runs as an init container (deploy/k8s/), SITE being a
# folder with one ConfigMap volume per pack folder (sequences/, sigma/, correlations/ ...).
#
#   assemble-rules.sh [--bundled DIR] SITE DEST
#
# DEST gets a copy of DIR (the image's rules/, when given), then every regular file of each
# SITE/<folder>/ into DEST/<folder>/: a site file replaces the bundled file of the same name.
# Entries whose name starts with '.' are skipped: a ConfigMap volume holds each key twice, as a
# link and under a hidden ..<timestamp>/ folder, and rule loaders that search folders recursively
# would load every rule twice.
set -euo pipefail

usage() { echo "usage: assemble-rules.sh [--bundled DIR] SITE DEST" >&2; exit 2; }

bundled=""
if [[ "${1:-}" == "--bundled" ]]; then
    [[ $# -ge 2 ]] || usage
    bundled="$2"
    shift 2
fi
[[ $# -eq 2 ]] || usage
site="$1"
dest="$2"

mkdir -p "$dest"
if [[ -n "$bundled" ]]; then
    [[ -d "$bundled" ]] || { echo "assemble-rules: no bundled rule pack at $bundled" >&2; exit 1; }
    cp -R "$bundled/." "$dest/"
fi

count=0
if [[ -d "$site" ]]; then
    for folder in "$site"/*/; do
        [[ -d "$folder" ]] || continue
        name="$(basename "$folder")"
        mkdir -p "$dest/$name"
        # -L: ConfigMap keys are links into the hidden folder; copy what they point at.
        while IFS= read -r -d '' file; do
            cp -L "$file" "$dest/$name/$(basename "$file")"
            count=$((count + 1))
        done < <(find -L "$folder" -mindepth 1 -maxdepth 1 -type f ! -name '.*' -print0)
    done
fi
echo "assemble-rules: ${count} site rule file(s) over ${bundled:-no bundled pack} into ${dest}"
