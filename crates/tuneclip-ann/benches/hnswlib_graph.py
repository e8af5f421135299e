"""Convert an hnswlib index file into a tuneclip graph file (TCHNSW01), ids = labels.

    python hnswlib_graph.py HNSWLIB_INDEX OUT.graph

With it our search runs over the very graph hnswlib built, which separates the two
halves of a speed comparison: graph quality (recall per ef) and search code (time per
visited point). `cargo run --release -p tuneclip-ann --example search_graph` times it.
Reads the layout hnswlib 0.8's `saveIndex` writes (header, level-0 blocks of
[u16 count, pad, maxM0 links, vector, u64 label], then each point's upper lists).
"""
import numpy as np, struct, sys
src, dst = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
off = 0
def pod(fmt):
    global off
    v = struct.unpack_from("<" + fmt, b, off); off += struct.calcsize("<" + fmt); return v[0]
offsetLevel0 = pod("Q"); max_el = pod("Q"); cnt = pod("Q"); size_el = pod("Q"); label_off = pod("Q"); offsetData = pod("Q")
maxlevel = pod("i"); enter = pod("I"); maxM = pod("Q"); maxM0 = pod("Q"); M = pod("Q"); mult = pod("d"); efc = pod("Q")
lvl0 = np.frombuffer(b, dtype=np.uint8, count=cnt * size_el, offset=off).reshape(cnt, size_el)
off += cnt * size_el
labels = lvl0[:, label_off:label_off + 8].copy().view("<u8").ravel().astype(np.int64)
counts = lvl0[:, 0:2].copy().view("<u2").ravel().astype(np.int64)
links = lvl0[:, 4:4 + 4 * maxM0].copy().view("<u4").reshape(cnt, maxM0)
print("mean degree layer0", counts.mean(), "max", counts.max())
n = cnt
out0 = np.full((n, maxM0), 0xFFFFFFFF, dtype="<u4")
for i in range(n):
    c = counts[i]
    out0[labels[i], :c] = labels[links[i, :c]]
size_links = maxM * 4 + 4
uppers = [[] for _ in range(maxlevel)]
for i in range(cnt):
    sz = pod("I")
    if sz:
        lv = sz // size_links
        for l in range(lv):
            o = off + l * size_links
            c = struct.unpack_from("<I", b, o)[0] & 0xFFFF
            ids = np.frombuffer(b, dtype="<u4", count=c, offset=o + 4)
            uppers[l].append((labels[i], labels[ids]))
        off += sz
with open(dst, "wb") as f:
    f.write(b"TCHNSW01"); f.write(struct.pack("<Q", n))
    f.write(struct.pack("<IIII", maxM0, maxlevel, labels[enter], 0))
    f.write(out0.tobytes())
    for pts in uppers:
        m = maxM
        f.write(struct.pack("<II", m, len(pts)))
        f.write(np.array([p[0] for p in pts], dtype="<u4").tobytes())
        arr = np.full((len(pts), m), 0xFFFFFFFF, dtype="<u4")
        for s, (_, ids) in enumerate(pts):
            arr[s, :len(ids)] = ids
        f.write(arr.tobytes())
print("written", [len(p) for p in uppers])
