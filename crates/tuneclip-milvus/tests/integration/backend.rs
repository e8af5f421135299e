//! The index served from Milvus answers what the embedded index answers; shards upsert
//! idempotently; a publish with a shard missing publishes nothing; a new generation
//! replaces the old one in one step.

use std::path::Path;
use std::time::Duration;
use tuneclip_index::{ClipQuery, Index, Snapshot, synthetic};
use tuneclip_milvus::client::MilvusClient;
use tuneclip_milvus::generation::{CollectionKind, Generation};
use tuneclip_milvus::server::MilvusServer;
use tuneclip_milvus::{MilvusBackend, Shard, publish_generation, upsert_snapshot};

#[test]
fn milvus_and_embedded_backends_agree_and_generations_switch_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    let install = MilvusServer::install_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data"));
    let server = MilvusServer::start(&install, &dir.path().join("milvus"), Duration::from_secs(180)).expect("Milvus");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(MilvusClient::connect(&server.addr, Duration::from_secs(30))).expect("connect");

    // A 6,000-segment catalogue, served embedded (HNSW) and from Milvus.
    let root = dir.path().join("snapshots");
    let cat = synthetic::catalogue(6000, 20, 40);
    let snap = Snapshot::publish(&root, &cat).expect("publish snapshot");
    let embedded = Index::load(&snap, synthetic::MODEL_VERSION).expect("embedded");
    let generation = Generation::new("tc", "first").expect("generation");
    let backend = MilvusBackend { addr: server.addr.clone(), prefix: "tc".into(), timeout: Duration::from_secs(60) };

    rt.block_on(async {
        // Nothing published yet: serving from Milvus is refused, clearly.
        let e = Index::load_with(&snap, synthetic::MODEL_VERSION, Some(&backend)).expect_err("nothing published");
        assert!(e.to_string().contains("no generation is published"), "{e}");
        // Two shards, one of them run twice (as a retried job would): then publish.
        let shards = [Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }];
        let a = upsert_snapshot(&client, &embedded.catalogue, &generation, shards[0], 1000, &|_, _| {})
            .await
            .expect("shard 0");
        // Publishing with shard 1 missing publishes nothing.
        let e = publish_generation(&client, &embedded.catalogue, &generation, Duration::from_secs(120))
            .await
            .expect_err("a shard is missing");
        assert!(e.to_string().contains("nothing was published"), "{e}");
        assert_eq!(client.alias_target("tc_segments").await.expect("alias"), None);
        let again = upsert_snapshot(&client, &embedded.catalogue, &generation, shards[0], 700, &|_, _| {})
            .await
            .expect("shard 0 again");
        assert_eq!(a, again);
        let b = upsert_snapshot(&client, &embedded.catalogue, &generation, shards[1], 1000, &|_, _| {})
            .await
            .expect("shard 1");
        assert_eq!(a.segments + b.segments, 6000);
        assert_eq!(a.songs + b.songs, 40);
        assert!(a.segments > 2500 && b.segments > 2500, "uneven shards {a:?} {b:?}");
        publish_generation(&client, &embedded.catalogue, &generation, Duration::from_secs(120)).await.expect("publish");
        assert_eq!(
            client.alias_target("tc_segments").await.expect("alias").as_deref(),
            Some(generation.collection(CollectionKind::Segments).as_str())
        );
    });

    // The same queries through both backends: the same clips (both re-rank exactly;
    // the candidate lists come from different HNSW graphs, so the tail may differ).
    let served = Index::load_with(&snap, synthetic::MODEL_VERSION, Some(&backend)).expect("from Milvus");
    assert_eq!(served.segment_search_kind(), tuneclip_ann::IndexKind::Milvus);
    assert!(served.vector_health().is_ok());
    let q = ClipQuery { k: 10, clip_duration_s: 4.0, ..ClipQuery::default() };
    let (mut same, mut total) = (0usize, 0usize);
    for song in embedded.catalogue.songs.iter().take(20) {
        let a: Vec<_> = embedded
            .best_clips(&song.embedding, &q)
            .expect("embedded")
            .iter()
            .map(|c| (c.video.clone(), c.segment_ordinal))
            .collect();
        let b: Vec<_> = served
            .best_clips(&song.embedding, &q)
            .expect("milvus")
            .iter()
            .map(|c| (c.video.clone(), c.segment_ordinal))
            .collect();
        assert_eq!(a.first(), b.first(), "the best clip differs for {}", song.id);
        total += a.len();
        same += a.iter().filter(|x| b.contains(x)).count();
    }
    let agreement = same as f64 / total as f64;
    eprintln!("embedded vs Milvus: {same}/{total} clips in common ({agreement:.3}), every best clip equal");
    assert!(agreement >= 0.95, "{agreement}");
    let songs_a = embedded.best_songs(&embedded.catalogue.songs[3].embedding, 5).expect("songs");
    let songs_b = served.best_songs(&embedded.catalogue.songs[3].embedding, 5).expect("songs");
    assert_eq!(
        songs_a.iter().map(|s| s.index).collect::<Vec<_>>(),
        songs_b.iter().map(|s| s.index).collect::<Vec<_>>()
    );

    // A second generation (a smaller catalogue) replaces the first whole; the one
    // before is kept for servers still on it, older ones are dropped.
    let cat2 = synthetic::catalogue(3000, 20, 10);
    let snap2 = Snapshot::publish(&root, &cat2).expect("snapshot 2");
    let second = Index::load(&snap2, synthetic::MODEL_VERSION).expect("embedded 2");
    let g2 = Generation::new("tc", "second").expect("g2");
    let g3 = Generation::new("tc", "third").expect("g3");
    rt.block_on(async {
        upsert_snapshot(&client, &second.catalogue, &g2, Shard::all(), 2000, &|_, _| {}).await.expect("upsert g2");
        publish_generation(&client, &second.catalogue, &g2, Duration::from_secs(120)).await.expect("publish g2");
        let names = client.list_collections().await.expect("list");
        assert!(
            names.contains(&generation.collection(CollectionKind::Segments)),
            "the replaced one is kept: {names:?}"
        );
        upsert_snapshot(&client, &second.catalogue, &g3, Shard::all(), 2000, &|_, _| {}).await.expect("upsert g3");
        publish_generation(&client, &second.catalogue, &g3, Duration::from_secs(120)).await.expect("publish g3");
        let names = client.list_collections().await.expect("list");
        assert!(!names.contains(&generation.collection(CollectionKind::Segments)), "the oldest is dropped: {names:?}");
        assert!(names.contains(&g2.collection(CollectionKind::Segments)));
    });
    let served2 = Index::load_with(&snap2, synthetic::MODEL_VERSION, Some(&backend)).expect("from Milvus, g3");
    // The old catalogue against the new generation: refused (row counts differ).
    let e = Index::load_with(&snap, synthetic::MODEL_VERSION, Some(&backend))
        .expect_err("catalogue and generation disagree");
    assert!(e.to_string().contains("3000 rows"), "{e}");
    let song = &second.catalogue.songs[0].embedding;
    assert_eq!(
        second.best_clips(song, &q).expect("embedded").first().map(|c| (c.video.clone(), c.segment_ordinal)),
        served2.best_clips(song, &q).expect("milvus").first().map(|c| (c.video.clone(), c.segment_ordinal))
    );
}
