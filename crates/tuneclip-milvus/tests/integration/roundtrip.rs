use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tuneclip_ann::{ExactIndex, VectorIndex, Vectors};
use tuneclip_milvus::client::{Column, ColumnData, MilvusClient, Rows, ScalarType};
use tuneclip_milvus::server::MilvusServer;
use tuneclip_milvus::{MilvusError, MilvusIndex};

fn install() -> std::path::PathBuf {
    MilvusServer::install_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data"))
}

/// Unit vectors in a few clusters, deterministic.
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut rnd = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let mut v: Vec<f32> = centres[i % 8].iter().map(|c| c + 0.35 * rnd()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        out.extend(v);
    }
    out
}

#[test]
fn a_real_milvus_stores_searches_filters_and_switches_generations() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = MilvusServer::start(&install(), dir.path(), Duration::from_secs(180)).expect("start Milvus");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut client = rt.block_on(MilvusClient::connect(&server.addr, Duration::from_secs(30))).expect("connect");
    client.consistency = tuneclip_milvus::pb::common::ConsistencyLevel::Strong;
    let (healthy, reasons) = rt.block_on(client.health()).expect("health");
    assert!(healthy, "{reasons:?}");

    let (n, dim) = (3000usize, 16usize);
    let data = clustered(n, dim, 7);
    let keys: Vec<i64> = (0..n as i64).map(|i| 1_000_000 + i * 7).collect();
    let rows = |range: std::ops::Range<usize>| Rows {
        keys: keys[range.clone()].to_vec(),
        dim,
        vectors: data[range.start * dim..range.end * dim].to_vec(),
        columns: vec![
            Column {
                name: "video".into(),
                data: ColumnData::VarChar(range.clone().map(|i| format!("v{}", i % 50)).collect()),
            },
            Column { name: "blank".into(), data: ColumnData::Bool(range.map(|i| i % 10 == 0).collect()) },
        ],
    };
    let scalars = [("video", ScalarType::VarChar(64)), ("blank", ScalarType::Bool)];
    let coll = "tc_test_segments_g1";
    rt.block_on(async {
        client.ensure_collection(coll, dim, &scalars).await.expect("create");
        client.ensure_collection(coll, dim, &scalars).await.expect("create again is a no-op");
        let e = client.ensure_collection(coll, dim + 1, &scalars).await.expect_err("another dim");
        assert!(e.to_string().contains("16-dimensional"), "{e}");
        // Upserts are idempotent: the second half twice, then everything once more.
        for r in [0..1500, 1500..3000, 1500..3000, 0..3000] {
            client.upsert(coll, &rows(r)).await.expect("upsert");
        }
        client.flush(coll).await.expect("flush");
        client.ensure_hnsw_index(coll, 16, 200).await.expect("index");
        client.load(coll, Duration::from_secs(120)).await.expect("load");
        assert_eq!(client.count(coll, "").await.expect("count"), n as u64, "upserts duplicated rows");
        assert_eq!(client.count(coll, "blank == true").await.expect("count"), 300);
    });

    // Search through the VectorIndex trait agrees with the exact index.
    let vectors = Arc::new(Vectors::new(dim, data.clone()).expect("vectors"));
    let milvus = MilvusIndex::open(&server.addr, coll, Arc::clone(&vectors), keys.clone(), Duration::from_secs(30))
        .expect("open");
    let exact = ExactIndex::new(Arc::clone(&vectors));
    let mut agree = 0usize;
    let queries = 50;
    for q in 0..queries {
        let query = vectors.row(q * 37).to_vec();
        let want: Vec<u32> = exact.search(&query, 10, 10).iter().map(|h| h.id).collect();
        let got = milvus.search(&query, 10, 64);
        assert_eq!(got.len(), 10);
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        assert!((got[0].score - exact.search(&query, 1, 1)[0].score).abs() < 1e-4);
        agree += got.iter().filter(|h| want.contains(&h.id)).count();
    }
    let recall = agree as f64 / (queries * 10) as f64;
    eprintln!("recall@10 of Milvus HNSW (ef 64) vs exact: {recall:.3}");
    assert!(recall >= 0.95, "{recall}");
    assert_eq!(milvus.fallbacks(), 0);
    // Concurrent searches share Milvus calls: 16 threads x 20 searches, each answered
    // as a lone search is (same neighbours as the exact index), in fewer calls.
    let calls_before = milvus.calls();
    let found: usize = std::thread::scope(|s| {
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (milvus, exact, vectors) = (&milvus, &exact, &vectors);
                s.spawn(move || {
                    (0..20)
                        .map(|i| {
                            let q = vectors.row((t * 20 + i) * 7 % n);
                            let want: Vec<u32> = exact.search(q, 10, 10).iter().map(|h| h.id).collect();
                            let got = milvus.search(q, 10, 64);
                            assert_eq!(got.len(), 10);
                            assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
                            got.iter().filter(|h| want.contains(&h.id)).count()
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        threads.into_iter().map(|h| h.join().expect("search thread")).sum()
    });
    let calls = milvus.calls() - calls_before;
    let recall = found as f64 / 3200.0;
    eprintln!("320 concurrent searches in {calls} Milvus calls; recall@10 {recall:.3}");
    assert!(recall >= 0.95, "{recall}");
    assert!(calls < 320, "no search shared a call");
    assert_eq!(milvus.fallbacks(), 0);
    // Filtered search: only rows matching the expression.
    let hits = milvus.search_where(vectors.row(0), 20, 64, "blank == false and video != \"v0\"").expect("filtered");
    assert_eq!(hits.len(), 20);
    assert!(hits.iter().all(|h| h.id % 10 != 0 && h.id % 50 != 0), "{hits:?}");

    // Generations: the alias moves from one collection to the next in one step.
    let coll2 = "tc_test_segments_g2";
    rt.block_on(async {
        client.point_alias("tc_test_segments", coll).await.expect("alias");
        assert_eq!(client.alias_target("tc_test_segments").await.expect("target").as_deref(), Some(coll));
        client.ensure_collection(coll2, dim, &scalars).await.expect("create g2");
        client.upsert(coll2, &rows(0..10)).await.expect("upsert g2");
        client.flush(coll2).await.expect("flush");
        client.ensure_hnsw_index(coll2, 16, 200).await.expect("index");
        client.load(coll2, Duration::from_secs(120)).await.expect("load");
        client.point_alias("tc_test_segments", coll2).await.expect("switch");
        assert_eq!(client.alias_target("tc_test_segments").await.expect("target").as_deref(), Some(coll2));
        assert_eq!(client.count("tc_test_segments", "").await.expect("count via alias"), 10);
        // Deletes by key.
        assert_eq!(client.delete(coll2, &format!("key in [{}, {}]", keys[0], keys[1])).await.expect("delete"), 2);
        assert_eq!(client.count(coll2, "").await.expect("count"), 8);
        assert!(client.list_collections().await.expect("list").contains(&coll2.to_string()));
        // A bad request names the call and the collection.
        let e = client.count("no_such_collection", "").await.expect_err("unknown");
        assert!(matches!(e, MilvusError::Call { .. }) && e.to_string().contains("no_such_collection"), "{e}");
    });

    // Milvus hung (SIGSTOP): the first two searches wait for the client's timeout and
    // answer by exact scan, then the circuit opens and the next ones do not ask Milvus
    // at all (counted, and health says so at once); once Milvus runs again, the first
    // search after the cool-down probes it and closes the circuit.
    let hung = MilvusIndex::open(&server.addr, coll, Arc::clone(&vectors), keys.clone(), Duration::from_secs(2))
        .expect("open with a short timeout");
    hung.set_breaker(2, Duration::from_secs(3));
    let pid = server.pid().expect("Milvus runs").to_string();
    let signal = |sig: &str| {
        let st = std::process::Command::new("kill").args([sig, &pid]).status().expect("kill");
        assert!(st.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    let want5: Vec<u32> = exact.search(vectors.row(5), 10, 10).iter().map(|h| h.id).collect();
    for i in 0..10 {
        let got = hung.search(vectors.row(5), 10, 64);
        assert_eq!(got.iter().map(|h| h.id).collect::<Vec<_>>(), want5, "search {i} while Milvus hangs");
        if i == 1 {
            assert!(hung.circuit_open(), "two failures in a row open the circuit");
        }
    }
    // Searches 3..10 (exact scans of 3,000 rows, well inside the 3 s cool-down) did not
    // ask Milvus.
    let skipped = hung.skipped();
    assert_eq!(skipped, 8, "searches answered without asking the hung Milvus");
    assert_eq!(hung.fallbacks(), 10);
    let health = hung.health().expect_err("open circuit");
    assert_eq!(health.kind, "milvus");
    assert!(health.reason.contains("stopped answering") && health.reason.contains(&server.addr), "{health}");
    signal("-CONT");
    std::thread::sleep(Duration::from_millis(3200));
    let back = hung.search(vectors.row(5), 10, 64);
    assert_eq!(back.len(), 10);
    assert!(!hung.circuit_open(), "a successful probe closes the circuit");
    assert_eq!(hung.fallbacks(), 10, "the probe was answered by Milvus");
    assert!(hung.health().is_ok());
    eprintln!("hung Milvus: 10 searches, {skipped} answered without asking it; closed again after SIGCONT");
    drop(hung);

    // Milvus gone: a clear error naming the address, and the index answers by exact scan.
    let addr = server.addr.clone();
    drop(server);
    let got = milvus.search(vectors.row(5), 10, 64);
    let want: Vec<u32> = exact.search(vectors.row(5), 10, 10).iter().map(|h| h.id).collect();
    assert_eq!(got.iter().map(|h| h.id).collect::<Vec<_>>(), want);
    assert_eq!(milvus.fallbacks(), 1);
    let e = rt.block_on(MilvusClient::connect(&addr, Duration::from_secs(2))).expect_err("gone");
    assert!(matches!(e, MilvusError::Unreachable { .. }) && e.to_string().contains(&addr), "{e}");
}

/// A Milvus restarted in the middle of a rebuild keeps what was upserted before; the
/// rebuild's shard, run again, stores nothing twice.
#[test]
fn a_rebuild_resumes_across_a_milvus_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("milvus");
    let (n, dim) = (1000usize, 8usize);
    let vectors = clustered(n, dim, 3);
    let rows = |range: std::ops::Range<usize>| Rows {
        keys: range.clone().map(|i| i as i64).collect(),
        dim,
        vectors: vectors[range.start * dim..range.end * dim].to_vec(),
        columns: vec![],
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let coll = "tc_restart_segments_g1";
    {
        let server = MilvusServer::start(&install(), &data, Duration::from_secs(180)).expect("start");
        rt.block_on(async {
            let client = MilvusClient::connect(&server.addr, Duration::from_secs(30)).await.expect("connect");
            client.ensure_collection(coll, dim, &[]).await.expect("create");
            client.upsert(coll, &rows(0..600)).await.expect("first part");
        });
        // The server dies here (dropped: killed by pid) before the rebuild finished.
    }
    let server = MilvusServer::start(&install(), &data, Duration::from_secs(240)).expect("restart on the same data");
    rt.block_on(async {
        let mut client = MilvusClient::connect(&server.addr, Duration::from_secs(30)).await.expect("connect");
        client.consistency = tuneclip_milvus::pb::common::ConsistencyLevel::Strong;
        assert!(client.has_collection(coll).await.expect("has"), "the collection survived the restart");
        // The rebuild runs its shard again, whole.
        client.upsert(coll, &rows(0..n)).await.expect("again");
        client.flush(coll).await.expect("flush");
        client.ensure_hnsw_index(coll, 16, 200).await.expect("index");
        client.load(coll, Duration::from_secs(120)).await.expect("load");
        assert_eq!(client.count(coll, "").await.expect("count"), n as u64);
    });
}
