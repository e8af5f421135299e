#!/usr/bin/env bash
# Run on the GPU machine from inside the pack (see run.sh): training throughput of the
# shipped model and of the appearance model on the CPU and on the GPU, then the default
# recipe and a larger model trained on the GPU. Results go to $OUT (default ./out):
# throughput.md, and results.tar (the runs' model folders and histories, GPU
# utilisation samples, the log).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${OUT:-$here/out}
out=$(mktemp -d)
mkdir -p "$dest"
exec > >(tee "$out/log.txt") 2>&1
# Unpack the binary and the data (xz, or Python's lzma where xz is missing).
work=$(mktemp -d)
for f in tuneclip-fit profiles.bin appearance.bin pairs.json; do
    if command -v xz >/dev/null; then xz -dc "$here/$f.xz" >"$work/$f"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$here/$f.xz" "$work/$f"; fi || { echo "cannot unpack $f" >&2; exit 1; }
done
chmod +x "$work/tuneclip-fit"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
fit=("$work/tuneclip-fit" --pairs "$work/pairs.json")
steps=${STEPS:-40}
# Environment: STEPS (timed steps per bench), PROFILE_BATCHES, APPEARANCE_BATCHES,
# APPEARANCE_ARGS (more tuneclip-fit options for the appearance benches, e.g. a wider
# model), TRAIN=0 (benches only).
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "cpu: $(nproc) cores" | tee "$out/throughput.md"

bench() { # cache device batch [train args...]
    local cache=$1 dev=$2 batch=$3
    shift 3
    timeout 120 "${fit[@]}" --cache "$work/$cache" --out /tmp/bench --throughput-steps "$steps" \
        --device "$dev" --batch "$batch" "$@" | tee -a "$out/throughput.md"
}
for dev in cpu wgpu; do
    for b in ${PROFILE_BATCHES-64 512}; do bench profiles.bin $dev $b; done
    for b in ${APPEARANCE_BATCHES-64 256}; do bench appearance.bin $dev $b --appearance true ${APPEARANCE_ARGS:-}; done
done
if [ "${TRAIN:-1}" = 0 ]; then
    cp "$out/throughput.md" "$dest/"
    exit 0
fi

nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 500 > "$out/gpu-util.csv" 2>/dev/null &
smi=$!
# The default model's recipe (README), on the GPU.
timeout 150 "${fit[@]}" --cache "$work/profiles.bin" --out "$out/default-recipe" --device wgpu --epochs 30
# A larger model: twice the dimensions, four times the hidden width, bigger batches.
timeout 150 "${fit[@]}" --cache "$work/profiles.bin" --out "$out/large" --device wgpu \
    --dim 64 --hidden 512 --batch 256 --epochs 60
kill $smi 2>/dev/null
rm -rf "$out"/*/checkpoint
cp "$out/throughput.md" "$dest/"
tar -C "$out" -cf "$dest/results.tar" .
