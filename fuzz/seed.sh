#!/usr/bin/env sh
# Seeds the dns_message fuzz target with the DNS test corpus (c-ares's fuzz inputs and names,
# MIT, see core/tests/data/dns_corpus/c-ares-LICENSE.md). libFuzzer reads a corpus directory
# without descending into subdirectories, so the files are copied flat, prefixed by their folder.
#
#   fuzz/seed.sh && cargo +nightly fuzz run dns_message
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../core/tests/data/dns_corpus"
dest="$here/corpus/dns_message"
mkdir -p "$dest"
for dir in "$src"/*/; do
    prefix=$(basename "$dir")
    for file in "$dir"*; do
        cp "$file" "$dest/$prefix-$(basename "$file")"
    done
done
echo "seeded $(ls "$dest" | wc -l) files into $dest"
