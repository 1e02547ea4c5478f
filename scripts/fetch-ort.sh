#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library (Linux x64) from the npm package
# onnxruntime-node and checks it against pinned checksums. Idempotent: does
# nothing when lib/ already holds the verified library.
set -euo pipefail

version=1.24.3
pkg_sha256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
lib_sha256=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
member=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

dest=${1:-lib}
lib=$dest/libonnxruntime.so.1

if [ -f "$lib" ] && echo "$lib_sha256  $lib" | sha256sum -c --status; then
	exit 0
fi
case "$(uname -sm)" in
"Linux x86_64") ;;
*) echo "fetch-ort: only Linux x86_64 is packaged here; set SIMSEARCH_ORT_LIB to your own libonnxruntime (ORT >= 1.24)" >&2; exit 1 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-ort: onnxruntime-node@$version (npm pack)" >&2
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tgz=$tmp/onnxruntime-node-$version.tgz
if ! echo "$pkg_sha256  $tgz" | sha256sum -c --status; then
	echo "fetch-ort: checksum mismatch for onnxruntime-node-$version.tgz (want $pkg_sha256)" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" "$member"
if ! echo "$lib_sha256  $tmp/$member" | sha256sum -c --status; then
	echo "fetch-ort: checksum mismatch for libonnxruntime.so.1 (want $lib_sha256)" >&2
	exit 1
fi
mkdir -p "$dest"
install -m 0644 "$tmp/$member" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "fetch-ort: $lib ready (ONNX Runtime $version, sha256 verified)" >&2
