//! The same vectors and queries through both vector backends, same run: tuneclip's
//! embedded HNSW (hnsw_rs-built, frozen layout) and Milvus 2.3.5's HNSW (a real
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
    drop(server);
}
