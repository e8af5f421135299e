//! ANN benchmark: tuneclip's HNSW (built by our builder, searched in the frozen layout
//! on 8-bit codes with exact re-ranking, and on the f32 rows with every dot kernel the
//! CPU has) beside hnswlib and faiss-cpu HNSW on the same vectors, in the same run.
//!
//! `cargo bench -p tuneclip-ann --bench ann` (release). Environment:
//! - `TUNECLIP_ANN_N` vectors (default 1,000,000), `TUNECLIP_ANN_DIM` (32, the learned
//!   model's dimension), `TUNECLIP_ANN_QUERIES` (1,000);
//! - `TUNECLIP_ANN_PYTHON`: a Python with `hnswlib` and `faiss-cpu` (default `python3`);
//!   without them the peer rows say so;
//! - `TUNECLIP_ANN_PLOT`: where to draw recall against queries/s (default
//!   `target/ann-bench/recall.png`).
//!
//! Vectors: unit vectors in clusters (one centre per 500 vectors, Gaussian spread of
//! norm ~0.8 around it), like segment embeddings of many videos; queries are fresh
//! draws from the same clusters. Build uses every core for everyone (M 16,
//! ef_construction 200); queries run one at a time on one thread.

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use tuneclip_ann::{ExactIndex, HnswIndex, HnswParams, VectorIndex, Vectors};
use tuneclip_core::kernels::{DotFn, Kernel};

const EFS: [usize; 8] = [10, 16, 24, 32, 48, 64, 128, 256];
const K: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0.0, |kb: f64| kb / 1024.0)
}

fn write_raw(path: &Path, bytes: impl Iterator<Item = [u8; 4]>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create bench file"));
    for b in bytes {
        w.write_all(&b).expect("write bench file");
    }
}

#[derive(Debug, Clone)]
struct Row {
    lib: String,
    ef: usize,
    recall: f64,
    qps: f64,
}

fn recall(found: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let hits: usize = found.iter().zip(truth).map(|(f, t)| f.iter().filter(|id| t.contains(id)).count()).sum();
    hits as f64 / (truth.len() * K) as f64
}

/// Exact top-K of every query, queries split over all cores.
fn ground_truth(index: &ExactIndex, queries: &Vectors) -> Vec<Vec<u32>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(queries.len()))
                        .map(|i| index.search(queries.row(i), K, 0).iter().map(|h| h.id).collect::<Vec<_>>())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("ground-truth thread")).collect()
    })
}

fn sha256_file(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).expect("read")))
}

/// One row per ef in [`EFS`]: `index` searched for every query with `dot`, best of three
/// passes (the peers get the same treatment).
fn search_rows(lib: &str, index: &HnswIndex, dot: DotFn, queries: &Vectors, truth: &[Vec<u32>]) -> Vec<Row> {
    search_rows_by(lib, queries, truth, |q, ef| index.search_with(dot, q, K, ef))
}

/// [`search_rows`] for any search `f(query, ef)`.
fn search_rows_by(
    lib: &str,
    queries: &Vectors,
    truth: &[Vec<u32>],
    f: impl Fn(&[f32], usize) -> Vec<tuneclip_ann::Hit>,
) -> Vec<Row> {
    let nq = queries.len();
    EFS.iter()
        .map(|&ef| {
            let mut best = f64::MAX;
            let mut found: Vec<Vec<u32>> = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                found = (0..nq).map(|i| f(queries.row(i), ef).iter().map(|h| h.id).collect()).collect();
                best = best.min(t.elapsed().as_secs_f64());
            }
            Row { lib: lib.to_string(), ef, recall: recall(&found, truth), qps: nq as f64 / best }
        })
        .collect()
}

fn main() {
    let n = env_usize("TUNECLIP_ANN_N", 1_000_000);
    let dim = env_usize("TUNECLIP_ANN_DIM", 32);
    let nq = env_usize("TUNECLIP_ANN_QUERIES", 1000);
    let params = HnswParams::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ann-bench");
    std::fs::create_dir_all(&out).expect("bench dir");
    println!(
        "ANN bench: {n} unit vectors, dim {dim}, {nq} queries, top-{K}; M {} ef_construction {}; build on {threads} threads, queries on 1",
        params.m, params.ef_construction
    );

    let mut rng = tuneclip_ann::synthetic::Rng(2026);
    let centres = tuneclip_ann::synthetic::centres((n / 500).max(4), dim, &mut rng);
    let base =
        Arc::new(Vectors::new(dim, tuneclip_ann::synthetic::clustered(&centres, n, dim, &mut rng)).expect("vectors"));
    let queries = Vectors::new(dim, tuneclip_ann::synthetic::clustered(&centres, nq, dim, &mut rng)).expect("queries");

    let t = Instant::now();
    let exact = ExactIndex::new(base.clone());
    let truth = ground_truth(&exact, &queries);
    println!("exact ground truth: {:.1} s on {threads} threads", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let exact_found: Vec<Vec<u32>> =
        (0..nq.min(100)).map(|i| exact.search(queries.row(i), K, 0).iter().map(|h| h.id).collect()).collect();
    let exact_qps = exact_found.len() as f64 / t.elapsed().as_secs_f64();

    write_raw(&out.join("base.f32"), base.as_slice().iter().map(|x| x.to_le_bytes()));
    write_raw(&out.join("queries.f32"), queries.as_slice().iter().map(|x| x.to_le_bytes()));
    write_raw(&out.join("gt.u32"), truth.iter().flatten().map(|x| x.to_le_bytes()));

    // Ours: build, persist, load back (with the sha256 check a snapshot load does).
    // `TUNECLIP_ANN_REUSE=1` reads the graph a previous run of the same size left
    // instead of building it again (the vectors are seeded, so they are the same).
    let (vpath, gpath) = (out.join(format!("ours-{n}-{dim}.vec")), out.join(format!("ours-{n}-{dim}.graph")));
    let reuse = std::env::var("TUNECLIP_ANN_REUSE").is_ok_and(|v| v == "1") && gpath.is_file();
    let (mut build_s, mut rss, mut write_s) = (f64::NAN, f64::NAN, f64::NAN);
    if !reuse {
        let before = rss_mb();
        let t = Instant::now();
        let bar = indicatif::ProgressBar::new(n as u64);
        let built = HnswIndex::build(base.clone(), params, &bar).expect("build");
        bar.finish_and_clear();
        build_s = t.elapsed().as_secs_f64();
        rss = rss_mb() - before;
        let t = Instant::now();
        base.write(&vpath).expect("write vectors");
        built.write_graph(&gpath).expect("write graph");
        write_s = t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    let sums = (sha256_file(&vpath), sha256_file(&gpath));
    let verify_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded_vectors = Arc::new(Vectors::read(&vpath).expect("read vectors"));
    let ours = HnswIndex::read_graph(&gpath, loaded_vectors).expect("read graph");
    let load_s = t.elapsed().as_secs_f64();
    let file_mb = (std::fs::metadata(&vpath).map_or(0, |m| m.len()) + std::fs::metadata(&gpath).map_or(0, |m| m.len()))
        as f64
        / 1e6;
    println!(
        "tuneclip: build {build_s:.1} s, index {:.0} MB (RSS +{rss:.0} MB after build), files {file_mb:.0} MB written in {write_s:.2} s; load {load_s:.2} s + sha256 {verify_s:.2} s ({}.., {}..)",
        ours.memory_bytes() as f64 / 1e6,
        &sums.0[..8],
        &sums.1[..8]
    );

    // Ours as a search runs it ("tuneclip": the walk on 8-bit codes, exact re-ranking,
    // with the kernel a search at this dimension takes on this CPU), then the walk on
    // the f32 rows with every kernel the CPU has, on the same graph in the same run.
    let chosen = tuneclip_core::kernels::kernel_for(dim);
    // The part of the load that makes the codes and checks them, on its own.
    let bare = ours.clone().without_codes();
    let t = Instant::now();
    let checked = bare.with_checked_codes();
    let codes_s = t.elapsed().as_secs_f64();
    assert_eq!(checked.has_codes(), ours.has_codes(), "the self-check is deterministic");
    drop(checked);
    println!(
        "distance kernel at dim {dim}: {chosen} (available: {:?}); 8-bit codes kept: {} (made and self-checked in {codes_s:.3} s of the load)",
        Kernel::ALL.iter().filter(|k| k.available()).collect::<Vec<_>>(),
        ours.has_codes()
    );
    let mut rows = search_rows_by("tuneclip", &queries, &truth, |q, ef| ours.search(q, K, ef));
    for kernel in std::iter::once(chosen).chain(Kernel::ALL.into_iter().filter(|k| *k != chosen && k.available())) {
        rows.extend(search_rows(&format!("tuneclip (f32 rows, {kernel})"), &ours, kernel.dot_fn(), &queries, &truth));
    }

    // hnsw_rs's graph (the builder ours replaced), frozen into the same layout and
    // searched by the same code with the same kernel: build time and recall side by
    // side. Opt-in (`TUNECLIP_ANN_HNSW_RS=1`): it took 90-120 s at 200k points, 20
    // minutes at a million.
    let mut reference_build = None;
    if std::env::var("TUNECLIP_ANN_HNSW_RS").is_ok_and(|v| v == "1") {
        let before = rss_mb();
        let t = Instant::now();
        let bar = indicatif::ProgressBar::new(n as u64);
        let reference = HnswIndex::build_hnsw_rs(base.clone(), params, &bar).expect("hnsw_rs build");
        bar.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        println!("hnsw_rs graph: build {secs:.1} s (RSS +{:.0} MB after build)", rss_mb() - before);
        reference_build = Some((secs, reference.memory_bytes() as f64 / 1e6));
        rows.extend(search_rows("tuneclip (hnsw_rs graph)", &reference, chosen.dot_fn(), &queries, &truth));
    }

    // Peers, same vectors, same run.
    let python = std::env::var("TUNECLIP_ANN_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/ann_peer.py");
    let efs: Vec<String> = EFS.iter().map(|e| e.to_string()).collect();
    let peer = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .args([n, dim, nq, threads, params.m, params.ef_construction].map(|x| x.to_string()))
        .arg(efs.join(","))
        .output();
    let mut builds = vec![("tuneclip".to_string(), build_s, ours.memory_bytes() as f64 / 1e6)];
    if let Some((secs, mb)) = reference_build {
        builds.push(("tuneclip (hnsw_rs graph)".to_string(), secs, mb));
    }
    match peer {
        Err(e) => println!("peers: cannot run {python}: {e}"),
        Ok(o) => {
            if !o.status.success() {
                println!("peers: {python} failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                let lib = v["lib"].as_str().unwrap_or("?").to_string();
                if let Some(err) = v["error"].as_str() {
                    println!("{lib}: {err}");
                } else if let Some(b) = v["build_s"].as_f64() {
                    builds.push((lib, b, v["mem_mb"].as_f64().unwrap_or(0.0)));
                } else {
                    rows.push(Row {
                        lib,
                        ef: v["ef"].as_u64().unwrap_or(0) as usize,
                        recall: v["recall"].as_f64().unwrap_or(0.0),
                        qps: v["qps"].as_f64().unwrap_or(0.0),
                    });
                }
            }
        }
    }

    println!("\n| library | build (s, {threads} threads) | index memory (MB) |");
    println!("|---|---|---|");
    for (lib, b, m) in &builds {
        println!("| {lib} | {b:.1} | {m:.0} |");
    }
    println!("\n| library | ef | recall@{K} | queries/s (1 thread) |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {:.4} | {:.0} |", r.lib, r.ef, r.recall, r.qps);
    }
    println!("| exact (tuneclip) | - | 1.0000 | {exact_qps:.1} |");
    println!("\nfirst ef reaching recall@{K} >= 0.95:");
    for lib in ["tuneclip", "hnswlib", "faiss"] {
        match rows.iter().find(|r| r.lib == lib && r.recall >= 0.95) {
            Some(r) => println!("  {lib}: ef {} recall {:.4} at {:.0} q/s", r.ef, r.recall, r.qps),
            None => println!("  {lib}: not reached (or not run)"),
        }
    }
    // At equal recall: each library's rate at recall 0.95 and 0.99, interpolated
    // between the ef rows around it (log of the rate, linear in recall).
    let libs: Vec<String> = rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.lib) {
            v.push(r.lib.clone());
        }
        v
    });
    for target in [0.95, 0.99] {
        let peer = qps_at(&rows, "hnswlib", target);
        println!("queries/s at recall@{K} {target}:");
        for lib in &libs {
            match (qps_at(&rows, lib, target), peer) {
                (Some(q), Some(p)) => println!("  {lib}: {q:.0} ({:.2}x hnswlib)", q / p),
                (Some(q), None) => println!("  {lib}: {q:.0}"),
                (None, _) => println!("  {lib}: not reached"),
            }
        }
    }
    let plot = std::env::var("TUNECLIP_ANN_PLOT").map_or_else(|_| out.join("recall.png"), PathBuf::from);
    match draw(&rows, &plot, n, dim) {
        Ok(()) => println!("plot: {}", plot.display()),
        Err(e) => println!("plot not drawn: {e}"),
    }
}

/// `lib`'s queries/s at `recall`, interpolated between the two ef rows around it (its
/// first row when that already reaches it); `None` when no row reaches it.
fn qps_at(rows: &[Row], lib: &str, recall: f64) -> Option<f64> {
    let mine: Vec<&Row> = rows.iter().filter(|r| r.lib == lib).collect();
    let i = mine.iter().position(|r| r.recall >= recall)?;
    if i == 0 {
        return Some(mine[0].qps);
    }
    let (a, b) = (mine[i - 1], mine[i]);
    let f = ((recall - a.recall) / (b.recall - a.recall).max(1e-12)).clamp(0.0, 1.0);
    Some((a.qps.ln() + f * (b.qps.ln() - a.qps.ln())).exp())
}

/// Recall@K against queries/s (log scale), one line per library.
fn draw(rows: &[Row], out: &Path, n: usize, dim: usize) -> Result<(), String> {
    let font = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no DejaVu Sans font (fonts-dejavu-core)")?;
    register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| "font did not load")?;
    let root = BitMapBackend::new(out, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let min_r = rows.iter().map(|r| r.recall).fold(1.0, f64::min).min(0.9) - 0.02;
    let max_q = rows.iter().map(|r| r.qps).fold(1.0, f64::max) * 1.5;
    let min_q = rows.iter().map(|r| r.qps).fold(f64::MAX, f64::min).max(1.0) / 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("HNSW on {n} vectors, dim {dim}: recall@{K} vs queries/s (1 thread)"), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(min_r..1.0f64, (min_q..max_q).log_scale())
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc(format!("recall@{K}")).y_desc("queries/s").draw().map_err(|e| e.to_string())?;
    for (lib, colour) in [("tuneclip", RED), ("hnswlib", BLUE), ("faiss", GREEN)] {
        let pts: Vec<(f64, f64)> = rows.iter().filter(|r| r.lib == lib).map(|r| (r.recall, r.qps)).collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(lib)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled()))).map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
