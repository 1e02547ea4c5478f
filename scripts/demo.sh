#!/usr/bin/env bash
# make demo: prepare the default model, index the sample photos, query them,
# then measure them (simsearch eval on their known groups).
# Usage: scripts/demo.sh BIN DIR
set -euo pipefail
bin=$1
dir=$2
mkdir -p "$dir"
# A fresh database each time: the demo shows a first index, not an update.
rm -f "$dir/demo.db"
export SIMSEARCH_DB="$dir/demo.db"
# Use a model already in the user's cache (pretrained vgg16 after
# `simsearch model pull vgg16`); otherwise build vgg16-random there. The
# demo database is new, so on a CPU with VNNI or AMX index uses the int8
# model, as a user's first index would: the first demo builds it (about a
# minute, kept in the cache). SIMSEARCH_INT8=off make demo stays fp32.
photos=testdata/photos

echo "== simsearch model prepare (default model)"
"$bin" model prepare
echo
if "$bin" index --help >/dev/null 2>&1; then
	echo "== simsearch index $photos"
	"$bin" index "$photos"
	echo
	q=$photos/ladybird--q30.jpg
	[ -f "$q" ] || q=$(ls "$photos"/*--*.jpg | head -1)
	echo "== simsearch query $q -k 5"
	"$bin" query "$q" -k 5
else
	echo "== simsearch embed $photos (first 3 embeddings, 8 values each)"
	"$bin" embed "$photos"/*.jpg | head -3 | cut -c1-200
fi
if "$bin" eval --help >/dev/null 2>&1 && [ -f testdata/eval/sample-groups.tsv ]; then
	echo
	echo "== simsearch eval --groups testdata/eval/sample-groups.tsv --plot $dir/pairs.svg (the stored vectors; the sweep cut short)"
	"$bin" eval --groups testdata/eval/sample-groups.tsv --plot "$dir/pairs.svg" >"$dir/eval.txt"
	sed -n '1,/^THRESHOLD/p' "$dir/eval.txt"
	grep -E 'best F1|model default' "$dir/eval.txt"
fi
