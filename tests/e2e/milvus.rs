//! The server on the Milvus backend: a real Milvus 2.3.5 (set-up's assets) on free
//! 127.0.0.1 ports, the catalogue's vectors published to it, the gRPC server started with
//! `vectors` = Milvus. It answers what the embedded index answers, reports the backend
//! in grpc.health.v1 (`tuneclip.v1.VectorIndex`), keeps answering (exact scan) when
//! Milvus dies, and refuses to reload onto a Milvus it cannot reach.

use crate::make_media;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;
use tuneclip_index::{Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};
use tuneclip_milvus::generation::Generation;
use tuneclip_milvus::server::MilvusServer;
use tuneclip_milvus::{MilvusBackend, MilvusClient, Shard, publish_generation, upsert_snapshot};
use tuneclip_server::{Engine, IndexServiceClient, MatchServiceClient, ServerConfig, pb};

async fn vector_health(channel: tonic::transport::Channel) -> i32 {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest { service: tuneclip_server::VECTOR_HEALTH_SERVICE.into() })
        .await
        .expect("health")
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_from_milvus_and_reports_its_health() {
    let tmp = tempfile::tempdir().expect("tmp");
    let media = make_media(tmp.path());
    let slow = tmp.path().join("slow.ogg");
    tuneclip_media::synth::make_song(&slow, 80.0, 8.0, 40.0).expect("song");
    let songs = [media.songs.clone(), vec![slow]].concat();
    let catalogue = ingest(&songs, &media.videos, &IngestConfig { progress: false, ..IngestConfig::default() });
    assert!(catalogue.segments.len() >= 3 && catalogue.songs.len() >= 2);
    let root = tmp.path().join("snapshots");
    Snapshot::publish(&root, &catalogue).expect("publish snapshot");
    let install = MilvusServer::install_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../index-data"));
    let dir = tmp.path().join("milvus");
    let mut milvus = tokio::task::spawn_blocking(move || MilvusServer::start(&install, &dir, Duration::from_secs(180)))
        .await
        .expect("join")
        .expect("Milvus starts");
    let client = MilvusClient::connect(&milvus.addr, Duration::from_secs(30)).await.expect("connect");
    let embedded = Index::load_current(&root, tuneclip_model::MODEL_VERSION).expect("embedded");
    let generation = Generation::new("e2e", &embedded.manifest.name).expect("generation");
    upsert_snapshot(&client, &embedded.catalogue, &generation, Shard::all(), 500, &|_, _| {}).await.expect("upsert");
    publish_generation(&client, &embedded.catalogue, &generation, Duration::from_secs(120)).await.expect("publish");

    let backend: Arc<dyn tuneclip_index::VectorBackend> =
        Arc::new(MilvusBackend { addr: milvus.addr.clone(), prefix: "e2e".into(), timeout: Duration::from_secs(5) });
    let index = Index::load_current_with(&root, tuneclip_model::MODEL_VERSION, Some(backend.as_ref())).expect("load");
    assert_eq!(index.segment_search_kind(), tuneclip_index::IndexKind::Milvus);
    let config = ServerConfig { vectors: Some(Arc::clone(&backend)), ..ServerConfig::new(tmp.path().join("renders")) };
    let engine = Engine::new(index, config);
    let (listener, addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let channel = tonic::transport::Endpoint::from_shared(url.clone()).expect("url").connect().await.expect("connect");
    let mut matcher = MatchServiceClient::new(channel.clone());

    // The same clips as the embedded index, for every song.
    for song in &embedded.catalogue.songs {
        // As the server asks: in sync with the onsets and beats of the part of the song
        // the clip plays under.
        let start = song.clip_start_s(2.0);
        let q = tuneclip_index::ClipQuery {
            k: 3,
            clip_duration_s: 2.0,
            onsets: song.onsets_in(start, 2.0).expect("onsets"),
            beats_s: song.beats_in(start, 2.0),
            ..Default::default()
        };
        let want: Vec<(String, u32)> = embedded
            .best_clips(&song.embedding, &q)
            .expect("embedded")
            .into_iter()
            .map(|c| (c.video.0, c.segment_ordinal))
            .collect();
        let got: Vec<(String, u32)> = matcher
            .best_clips(pb::BestClipsRequest {
                song: Some(pb::best_clips_request::Song::SongId(song.id.0.clone())),
                k: Some(3),
                clip_duration_s: Some(2.0),
                ..Default::default()
            })
            .await
            .expect("BestClips")
            .into_inner()
            .clips
            .into_iter()
            .map(|c| (c.video_id, c.segment_ordinal))
            .collect();
        assert_eq!(got, want, "song {}", song.id);
    }
    assert_eq!(vector_health(channel.clone()).await, ServingStatus::Serving as i32);

    // Milvus dies: health turns NOT_SERVING; queries still answer, by exact scan.
    milvus.stop();
    let since = Instant::now();
    while vector_health(channel.clone()).await != ServingStatus::NotServing as i32 {
        assert!(since.elapsed() < Duration::from_secs(30), "health never reported the dead backend");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let song = &embedded.catalogue.songs[0];
    let still = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId(song.id.0.clone())),
            k: Some(3),
            clip_duration_s: Some(2.0),
            ..Default::default()
        })
        .await
        .expect("answered without Milvus")
        .into_inner();
    assert!(!still.clips.is_empty());
    // A reload needs the backend: refused, the loaded index keeps serving.
    let mut idx = IndexServiceClient::new(channel.clone());
    let e = idx.reload(pb::ReloadRequest {}).await.expect_err("reload without Milvus");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("backend") || e.message().contains("Milvus"), "{e:?}");
    assert!(
        matcher
            .best_clips(pb::BestClipsRequest {
                song: Some(pb::best_clips_request::Song::SongId(song.id.0.clone())),
                k: Some(1),
                clip_duration_s: Some(2.0),
                ..Default::default()
            })
            .await
            .is_ok()
    );
    let _ = stop.send(());
    server.await.expect("join").expect("clean shutdown");
}
