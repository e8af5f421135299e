//! The same vectors and queries through both vector backends, same run: tuneclip's
//! embedded HNSW (our builder, frozen layout) and Milvus 2.3.5's HNSW (a real
//! standalone server from set-up's assets, on 127.0.0.1), both M 16 / efConstruction 200,
//! inner product. Prints recall@10 against an exact scan and queries per second at
//! several `ef`: one query at a time on one client thread (latency-bound: Milvus adds a
//! gRPC round trip per query), and for Milvus also 100 queries per request.
//!
//! `cargo bench -p tuneclip-milvus --bench backends` (release). Environment:
//! `TUNECLIP_BACKENDS_N` vectors (default 100,000), `TUNECLIP_BACKENDS_DIM` (32),
//! `TUNECLIP_BACKENDS_QUERIES` (1,000).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuneclip_ann::{ExactIndex, HnswIndex, HnswParams, VectorIndex, Vectors};
use tuneclip_milvus::MilvusIndex;
use tuneclip_milvus::client::{MilvusClient, Rows};
use tuneclip_milvus::server::MilvusServer;

const EFS: [usize; 5] = [16, 32, 64, 128, 256];
const K: usize = 10;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn recall(got: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    let hit: usize = got.iter().zip(truth).map(|(g, t)| g.iter().filter(|x| t.contains(x)).count()).sum();
    hit as f64 / (truth.len() * K) as f64
}

fn main() {
    let n = env_or("TUNECLIP_BACKENDS_N", 100_000);
    let dim = env_or("TUNECLIP_BACKENDS_DIM", 32);
    let nq = env_or("TUNECLIP_BACKENDS_QUERIES", 1000);
    let mut rng = tuneclip_ann::synthetic::Rng(2026);
    let centres = tuneclip_ann::synthetic::centres((n / 500).max(4), dim, &mut rng);
    let vectors =
        Arc::new(Vectors::new(dim, tuneclip_ann::synthetic::clustered(&centres, n, dim, &mut rng)).expect("vectors"));
    let queries = Vectors::new(dim, tuneclip_ann::synthetic::clustered(&centres, nq, dim, &mut rng)).expect("queries");
    eprintln!("{n} vectors of dim {dim}, {nq} queries, k {K}");
    let exact = ExactIndex::new(Arc::clone(&vectors));
    let truth: Vec<Vec<u32>> =
        (0..nq).map(|q| exact.search(queries.row(q), K, K).iter().map(|h| h.id).collect()).collect();

    // Embedded.
    let t = Instant::now();
    let hidden = indicatif::ProgressBar::hidden();
    let hnsw = HnswIndex::build(Arc::clone(&vectors), HnswParams::default(), &hidden).expect("build");
    let embedded_build = t.elapsed().as_secs_f64();

    // Milvus.
    let tmp = tempfile::tempdir().expect("tmp");
    let install = MilvusServer::install_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data"));
    let server = MilvusServer::start(&install, tmp.path(), Duration::from_secs(180)).expect("Milvus");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(MilvusClient::connect(&server.addr, Duration::from_secs(120))).expect("connect");
    let coll = "bench_segments";
    let t = Instant::now();
    rt.block_on(async {
        client.ensure_collection(coll, dim, &[]).await.expect("collection");
        for start in (0..n).step_by(10_000) {
            let end = (start + 10_000).min(n);
            let rows = Rows {
                keys: (start as i64..end as i64).collect(),
                dim,
                vectors: (start..end).flat_map(|i| vectors.row(i).to_vec()).collect(),
                columns: vec![],
            };
            client.upsert(coll, &rows).await.expect("upsert");
        }
    });
    let milvus_upsert = t.elapsed().as_secs_f64();
    let t = Instant::now();
    rt.block_on(async {
        client.flush(coll).await.expect("flush");
        client.ensure_hnsw_index(coll, 16, 200).await.expect("index");
        client.wait_indexed(coll, n as u64, Duration::from_secs(3600)).await.expect("index built");
        client.load(coll, Duration::from_secs(1800)).await.expect("load");
        let mut strong = client.clone();
        strong.consistency = tuneclip_milvus::pb::common::ConsistencyLevel::Strong;
        assert_eq!(strong.count(coll, "").await.expect("count"), n as u64);
    });
    let milvus_index = t.elapsed().as_secs_f64();
    let rss_mb = server
        .pid()
        .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0);
    eprintln!(
        "build: embedded {embedded_build:.1} s; Milvus upsert {milvus_upsert:.1} s + flush, HNSW build, load {milvus_index:.1} s; Milvus RSS {rss_mb:.0} MB after load"
    );

    println!(
        "| ef | tuneclip embedded recall@10 | q/s (1 thread) | Milvus recall@10 | q/s (1 query/call) | q/s (100 queries/call) |"
    );
    println!("|---|---|---|---|---|---|");
    for ef in EFS {
        let t = Instant::now();
        let got: Vec<Vec<u32>> =
            (0..nq).map(|q| hnsw.search(queries.row(q), K, ef).iter().map(|h| h.id).collect()).collect();
        let qps_e = nq as f64 / t.elapsed().as_secs_f64();
        let r_e = recall(&got, &truth);
        let (r_m, qps_m, qps_b) = rt.block_on(async {
            let t = Instant::now();
            let mut got = Vec::with_capacity(nq);
            for q in 0..nq {
                let r = client.search(coll, &[queries.row(q)], K, ef, "").await.expect("search");
                got.push(r[0].iter().map(|(k, _)| *k as u32).collect::<Vec<u32>>());
            }
            let qps = nq as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            for start in (0..nq).step_by(100) {
                let batch: Vec<&[f32]> = (start..(start + 100).min(nq)).map(|q| queries.row(q)).collect();
                client.search(coll, &batch, K, ef, "").await.expect("batch search");
            }
            (recall(&got, &truth), qps, nq as f64 / t.elapsed().as_secs_f64())
        });
        println!("| {ef} | {r_e:.4} | {qps_e:.0} | {r_m:.4} | {qps_m:.0} | {qps_b:.0} |");
    }

    // The server's path: MilvusIndex::search from C threads at once (each search waits
    // for its answer; concurrent ones share a Milvus call), ef 64, every query once per
    // thread count.
    let index =
        MilvusIndex::open(&server.addr, coll, Arc::clone(&vectors), (0..n as i64).collect(), Duration::from_secs(30))
            .expect("open MilvusIndex");
    println!("\n| path | callers | q/s | p50 ms | p99 ms | searches per Milvus call | recall@10 |");
    println!("|---|---|---|---|---|---|---|");
    for (batched, callers) in [(true, 1usize), (true, 8), (true, 32), (false, 8), (false, 32)] {
        let calls_before = index.calls();
        let t = Instant::now();
        let results: Vec<(f64, Vec<u32>, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..callers)
                .map(|c| {
                    let (index, queries) = (&index, &queries);
                    s.spawn(move || {
                        (c..nq)
                            .step_by(callers)
                            .map(|q| {
                                let t = Instant::now();
                                let hits = if batched {
                                    index.search(queries.row(q), K, 64)
                                } else {
                                    index.search_where(queries.row(q), K, 64, "").expect("search")
                                };
                                (t.elapsed().as_secs_f64() * 1e3, hits.iter().map(|h| h.id).collect(), q)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("caller")).collect()
        });
        let qps = nq as f64 / t.elapsed().as_secs_f64();
        let calls = if batched { (index.calls() - calls_before).max(1) } else { nq as u64 };
        let mut ms: Vec<f64> = results.iter().map(|r| r.0).collect();
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
        let mut got = vec![Vec::new(); nq];
        for (_, ids, q) in results {
            got[q] = ids;
        }
        println!(
            "| {} | {callers} | {qps:.0} | {:.2} | {:.2} | {:.1} | {:.4} |",
            if batched { "search (batched)" } else { "one call per search" },
            pct(0.5),
            pct(0.99),
            nq as f64 / calls as f64,
            recall(&got, &truth)
        );
    }
    assert_eq!(index.fallbacks(), 0, "a search fell back to the exact scan");
    drop(index);
    drop(server);
}
