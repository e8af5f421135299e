#!/usr/bin/env bash
# Make the GPU pack: everything a training run needs on a machine that has only an
# NVIDIA driver (no Rust, no FFmpeg, no Vulkan loader, no network), under 64 MiB.
#
#   training/gpu/run.sh                  # writes training/gpu/pack/
#   (copy the pack there, then)  pack/remote.sh
#
# The pack holds a release `tuneclip-fit` built with burn's wgpu backend (it trains from
# a feature cache and links no FFmpeg), the Vulkan loader and GL dispatch libraries it
# opens at run time (Debian's libvulkan1, libglvnd0, libglx0, libegl1, libopengl0, from
# this machine), the pair manifest, and two feature caches made here by
# `tuneclip-train features`: the shared profiles of every train/val pair (what the
# default model reads), and the appearance inputs (log-mel windows, thumbnails) of a
# subset of whole videos small enough to carry. The binary and the data travel
# xz-compressed (remote.sh unpacks them): 59 MB of binary is 10 MB of xz.
#
# Environment: PAIRS (default index-data/training/families/pairs.json, made by
# `tuneclip-train families`), PACK (default training/gpu/pack), APPEARANCE_PER_SPLIT
# (examples per split in the appearance cache, default 800), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${PAIRS:-index-data/training/families/pairs.json}
pack=${PACK:-training/gpu/pack}
per_split=${APPEARANCE_PER_SPLIT:-800}
target=${CARGO_TARGET_DIR:-target}
limit=$((64 * 1024 * 1024))

[ -f "$pairs" ] || { echo "error: no pair manifest at $pairs (run tuneclip-train families first, or set PAIRS)" >&2; exit 1; }

echo "building the release tuneclip-fit with wgpu (and tuneclip-train for the caches)" >&2
cargo build --release --locked -p tuneclip-training --features wgpu --bin tuneclip-fit --bin tuneclip-train

rm -rf "$pack"
mkdir -p "$pack/lib"
cp "$target/release/tuneclip-fit" "$pack/"
strip "$pack/tuneclip-fit"
if ldd "$pack/tuneclip-fit" | grep 'libav\|not found' >/dev/null; then
    echo "error: tuneclip-fit links libraries the GPU machine lacks:" >&2
    ldd "$pack/tuneclip-fit" >&2
    exit 1
fi
for lib in libvulkan.so.1 libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libOpenGL.so.0; do
    path=$(ldconfig -p | awk -v l="$lib" '!found && $1 == l && /x86-64/ {print $NF; found = 1}')
    [ -n "$path" ] || { echo "error: $lib is not installed here (apt-get install libvulkan1 libglvnd0 libglx0 libegl1 libopengl0)" >&2; exit 1; }
    cp -L "$path" "$pack/lib/$lib"
done
cp "$pairs" "$pack/pairs.json"
train="$target/release/tuneclip-train"
"$train" features --pairs "$pairs" --out "$pack/profiles.bin" --appearance false
"$train" features --pairs "$pairs" --out "$pack/appearance.bin" --max-per-split "$per_split"
xz -T0 -6 "$pack/tuneclip-fit" "$pack/profiles.bin" "$pack/appearance.bin" "$pack/pairs.json"
cp training/gpu/remote.sh "$pack/"

size=$(du -sb "$pack" | cut -f1)
echo "pack: $pack, $((size / 1024 / 1024)) MiB" >&2
du -sh "$pack"/* "$pack"/lib/* >&2
if [ "$size" -gt "$limit" ]; then
    echo "error: the pack is over 64 MiB; lower APPEARANCE_PER_SPLIT" >&2
    exit 1
fi
