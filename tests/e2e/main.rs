//! End to end: synthetic media with known content -> ingest (with broken files) ->
//! snapshot -> the real gRPC server on 127.0.0.1:0 -> a tonic client -> rendered 9:16
//! H.264 clips checked by decoding them.

mod milvus;
mod review;
mod tls;

use std::path::{Path, PathBuf};
use tonic::Code;
use tuneclip_index::{Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};
use tuneclip_media::synth::{ShotSpec, make_song, make_video};
use tuneclip_server::{Engine, IndexServiceClient, MatchServiceClient, ServerConfig, pb};

fn shot(source: &str, seconds: f64) -> ShotSpec {
    ShotSpec { source: source.into(), seconds }
}

struct Media {
    songs: Vec<PathBuf>,
    videos: Vec<PathBuf>,
    bad_song: PathBuf,
    bad_video: PathBuf,
}

fn make_media(dir: &Path) -> Media {
    let song = dir.join("pulse.ogg");
    make_song(&song, 128.0, 12.0, 55.0).expect("make song");
    let v1 = dir.join("two-shots.mp4");
    make_video(
        &v1,
        640,
        360,
        &[shot("testsrc2=size=640x360:rate=25", 3.0), shot("mandelbrot=size=640x360:rate=25", 3.0)],
        None,
    )
    .expect("make video");
    let v2 = dir.join("letterboxed.mp4");
    make_video(&v2, 640, 268, &[shot("cellauto=size=320x134:rate=25:rule=30:seed=3", 5.0)], Some(360))
        .expect("make video");
    let bad_video = dir.join("corrupt.mp4");
    std::fs::write(&bad_video, (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<u8>>())
        .expect("write");
    let bad_song = dir.join("readme.ogg");
    std::fs::write(&bad_song, "this file is text, not audio").expect("write");
    Media { songs: vec![song, bad_song.clone()], videos: vec![v1, bad_video.clone(), v2], bad_song, bad_video }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_clips_through_the_real_server_render_vertical_h264() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let media = make_media(tmp.path());

    // Ingest: the broken files are reported with path and reason; the rest goes in.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../index-data");
    let faces = Some(tuneclip_vision::FaceDetectorConfig::from_data_dir(&data));
    let pitch = Some(tuneclip_model::pitch::PitchModelConfig::from_data_dir(&data));
    let cfg = IngestConfig { progress: false, faces, pitch, ..IngestConfig::default() };
    let catalogue = ingest(&media.songs, &media.videos, &cfg);
    let failed: Vec<&Path> = catalogue.failures.iter().map(|f| f.path.as_path()).collect();
    assert_eq!(failed, vec![media.bad_song.as_path(), media.bad_video.as_path()]);
    assert!(
        catalogue
            .failures
            .iter()
            .all(|f| f.reason.contains(f.path.file_name().and_then(|n| n.to_str()).unwrap_or("?")))
    );
    assert_eq!(catalogue.songs.len(), 1);
    // Basic Pitch ran over the song's highlight (its notes are tested in tuneclip-model).
    let pitch = catalogue.songs[0].pitch.expect("pitch features");
    assert!(pitch.polyphony.is_finite() && pitch.note_rate_hz.is_finite(), "{pitch:?}");
    assert_eq!(catalogue.videos.len(), 2);
    // The two-shot video is cut at 3 s exactly (one sampled frame = 0.1 s).
    let two = catalogue.videos.iter().find(|v| v.title == "two-shots").expect("ingested");
    assert_eq!(two.analysis.cuts.len(), 1, "{:?}", two.analysis.cuts);
    assert!((two.analysis.cuts[0] - 3.0).abs() <= 0.1, "{:?}", two.analysis.cuts);
    // The letterboxed video's bars (46 px top and bottom) are found to 2 px.
    let lb = catalogue.videos.iter().find(|v| v.title == "letterboxed").expect("ingested");
    assert!((lb.analysis.active.y as i64 - 46).abs() <= 2, "{:?}", lb.analysis.active);
    assert!((lb.analysis.active.bottom() as i64 - 314).abs() <= 2, "{:?}", lb.analysis.active);
    // Synthetic patterns hold no faces: the detector ran and found none.
    assert!(
        catalogue.videos.iter().all(|v| v.analysis.faces.is_empty()),
        "{:?}",
        catalogue.videos.iter().map(|v| (&v.title, &v.analysis.faces, v.analysis.detail_faces)).collect::<Vec<_>>()
    );

    // A rebuild over the same files reuses every analysis by content hash; a new file
    // is the only one analysed.
    let (again, stats) = tuneclip_ingest::ingest_incremental(&media.songs, &media.videos, &cfg, Some(&catalogue));
    assert_eq!((stats.analysed, stats.reused, stats.failed, stats.without_pitch), (0, 3, 2, 0));
    assert_eq!(again.segments.len(), catalogue.segments.len());
    assert!(again.segments.iter().zip(&catalogue.segments).all(|(a, b)| a.embedding == b.embedding));
    let extra = tmp.path().join("extra.mp4");
    make_video(&extra, 320, 180, &[shot("smptebars=size=320x180:rate=25", 2.5)], None).expect("make video");
    let mut more = media.videos.clone();
    more.push(extra);
    // ... with a staging "folder" that is a file: the new result cannot be kept there,
    // and that is counted, not only logged.
    let blocked = tmp.path().join("staging-is-a-file");
    std::fs::write(&blocked, b"").expect("write");
    let staged = tuneclip_ingest::IngestConfig { staging: Some(blocked), ..cfg.clone() };
    let (_, stats) = tuneclip_ingest::ingest_incremental(&media.songs, &more, &staged, Some(&catalogue));
    assert_eq!((stats.analysed, stats.reused, stats.unstaged), (1, 3, 1));

    let root = tmp.path().join("snapshots");
    Snapshot::publish(&root, &catalogue).expect("publish");
    let index = Index::load_current(&root, tuneclip_model::MODEL_VERSION).expect("load");
    let config =
        ServerConfig { media_roots: vec![tmp.path().to_path_buf()], ..ServerConfig::new(tmp.path().join("renders")) };
    let engine = Engine::new(index, config);
    let (metrics_listener, metrics_addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    tokio::spawn(tuneclip_server::serve_metrics(metrics_listener, engine.metrics.clone(), std::future::pending()));
    let (listener, addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
        let _ = stopped.await;
    }));

    let url = format!("http://{addr}");
    let mut idx = IndexServiceClient::connect(url.clone()).await.expect("connect");
    let mut matcher = MatchServiceClient::connect(url.clone()).await.expect("connect");
    let mut reframer = tuneclip_server::ReframeServiceClient::connect(url).await.expect("connect");
    let songs = idx.list_songs(pb::ListSongsRequest {}).await.expect("list").into_inner().songs;
    assert_eq!(songs.len(), 1);
    let listed = songs[0].pitch.as_ref().expect("the catalogue was built with pitch features");
    assert_eq!(listed.pitch_classes.len(), 12);
    assert_eq!(listed.note_rate_hz, pitch.note_rate_hz);

    let clip_s = 2.0;
    let resp = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId(songs[0].id.clone())),
            k: Some(3),
            clip_duration_s: Some(clip_s),
            max_per_video: Some(1),
            render: true,
            song_audio: true,
            ..Default::default()
        })
        .await
        .expect("best clips")
        .into_inner();
    // One clip per video at most, and both videos have segments of 2 s or more.
    assert_eq!(resp.clips.len(), 2);
    for (i, clip) in resp.clips.iter().enumerate() {
        assert_eq!(clip.rank as usize, i + 1);
        let video =
            catalogue.videos.iter().find(|v| v.id.0 == clip.video_id).expect("clip's video is in the catalogue");
        let range = clip.range.expect("range");
        assert!((range.end_s - range.start_s - clip_s).abs() < 1e-9);
        let seg = &video.analysis.segments[clip.segment_ordinal as usize];
        assert!(
            range.start_s >= seg.range.start_s - 1e-9 && range.end_s <= seg.range.end_s + 1e-9,
            "clip crosses a cut"
        );
        // Placed in its shot in sync with the song's highlight: the sync is reported.
        assert!(clip.sync.is_some_and(|s| (-1.0..=1.0).contains(&s)), "{clip:?}");
        let plan = clip.crop_plan.as_ref().expect("crop plan");
        assert!(!plan.keyframes.is_empty());

        // The render comes by its id, not a path on the server's disk.
        let r = clip.rendered.as_ref().expect("rendered");
        assert!(!r.render_id.contains('/'), "{r:?}");
        let fetched = tmp.path().join(format!("fetched{i}.mp4"));
        std::fs::write(&fetched, fetch(&mut reframer, &r.render_id, pb::RenderFile::Video).await).expect("write");
        let path = fetched.as_path();
        assert_eq!(tuneclip_media::video::codec_name(path).expect("decodable"), "h264");
        let info = tuneclip_media::video::probe(path).expect("probe");
        // 9:16 up to the even-pixel rounding of both sides.
        assert!(
            (f64::from(info.width) * 16.0 - f64::from(info.height) * 9.0).abs() <= 32.0,
            "{}x{}",
            info.width,
            info.height
        );
        assert!(info.height <= 360, "never upscaled past the source");
        let frames = tuneclip_media::video::sample_frames(
            path,
            tuneclip_media::video::SamplingConfig {
                fps: 100.0,
                width_px: 16,
                ..tuneclip_media::video::SamplingConfig::default()
            },
        )
        .expect("decode");
        let decoded_s = frames.frames.len() as f64 / 25.0;
        assert!((decoded_s - clip_s).abs() <= 1.0 / 25.0 + 1e-9, "decoded {decoded_s} s of video");
        assert!((info.duration_s - clip_s).abs() <= 1.0 / 25.0 + 1e-9, "container says {} s", info.duration_s);
        assert!(fetch(&mut reframer, &r.render_id, pb::RenderFile::Preview).await.starts_with(b"\x89PNG"));
        // The song is under the clip, as long as the clip (AAC pads to whole 1024-sample
        // frames: up to 23 ms more at 44.1 kHz).
        let sound = tuneclip_media::audio::decode_native_mono(path).expect("clip has a sound track");
        assert!((sound.duration_s() - clip_s).abs() <= 0.03, "audio lasts {} s", sound.duration_s());
        assert_eq!(sound.source_channels, 2);
        let rms = (sound.samples.iter().map(|x| x * x).sum::<f32>() / sound.samples.len() as f32).sqrt();
        assert!(rms > 0.05, "the song is audible (rms {rms})");
    }

    // Bad requests get precise codes and the server keeps serving.
    let err = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId("nope".into())),
            ..Default::default()
        })
        .await
        .expect_err("unknown song");
    assert_eq!(err.code(), Code::NotFound);
    let err = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId(songs[0].id.clone())),
            k: Some(1000),
            ..Default::default()
        })
        .await
        .expect_err("k out of range");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = matcher.best_clips(pb::BestClipsRequest::default()).await.expect_err("no song id");
    assert_eq!(err.code(), Code::InvalidArgument);
    // The standard health service says SERVING, and reflection lists every service.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("valid url")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "tuneclip.v1.MatchService", "tuneclip.v1.IndexService", "tuneclip.v1.ReframeService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
    }
    let services = reflected_services(channel.clone()).await;
    for name in
        ["tuneclip.v1.MatchService", "tuneclip.v1.ReframeService", "tuneclip.v1.IndexService", "grpc.health.v1.Health"]
    {
        assert!(services.iter().any(|s| s == name), "reflection lists {services:?}, not {name}");
    }

    // The contract from another language: a Python grpcio client generated from proto/
    // asks the same question and gets the same clips.
    let rust_answer: Vec<(String, u32, f64, f64)> = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId(songs[0].id.clone())),
            k: Some(3),
            clip_duration_s: Some(2.0),
            max_per_video: Some(1),
            ..Default::default()
        })
        .await
        .expect("best clips")
        .into_inner()
        .clips
        .into_iter()
        .map(|c| {
            (c.video_id, c.segment_ordinal, c.range.unwrap_or_default().start_s, c.range.unwrap_or_default().end_s)
        })
        .collect();
    let python = python_client(addr).await;
    assert_eq!(python["song"], songs[0].id.as_str());
    let py_clips: Vec<(String, u32, f64, f64)> = serde_json::from_value(python["clips"].clone()).expect("clip list");
    assert_eq!(py_clips, rust_answer);
    assert_eq!(python["unknown_song"], "NOT_FOUND");
    assert_eq!(python["missing_render"], "NOT_FOUND", "FetchRender from Python");
    // Python's reflection client (v1alpha) lists the same services as v1 does (each
    // version names its own reflection service).
    let py_services: Vec<String> =
        serde_json::from_value(python["reflected_services"].clone()).expect("reflected services");
    for name in services.iter().filter(|s| !s.starts_with("grpc.reflection.")) {
        assert!(py_services.contains(name), "v1alpha reflection lists {py_services:?}, not {name}");
    }

    // Filters: without the best video, the answer comes from the other one.
    let first_video = resp.clips[0].video_id.clone();
    let filtered = matcher
        .best_clips(pb::BestClipsRequest {
            song: Some(pb::best_clips_request::Song::SongId(songs[0].id.clone())),
            k: Some(3),
            clip_duration_s: Some(clip_s),
            exclude_video_ids: vec![first_video.clone()],
            ..Default::default()
        })
        .await
        .expect("filtered")
        .into_inner();
    assert!(!filtered.clips.is_empty() && filtered.clips.iter().all(|c| c.video_id != first_video));

    // A playlist never reuses a clip: three segments of >= 2 s exist (two shots of 3 s,
    // one of 5 s), so four songs get three distinct clips and the last gets none.
    let playlist = matcher
        .playlist_clips(pb::PlaylistClipsRequest {
            song_ids: vec![songs[0].id.clone(); 4],
            clips_per_song: Some(1),
            clip_duration_s: Some(clip_s),
            ..Default::default()
        })
        .await
        .expect("playlist")
        .into_inner();
    assert_eq!(playlist.songs.len(), 4);
    let used: Vec<(String, u32)> =
        playlist.songs.iter().flat_map(|s| s.clips.iter().map(|c| (c.video_id.clone(), c.segment_ordinal))).collect();
    let distinct: std::collections::HashSet<_> = used.iter().cloned().collect();
    assert_eq!((used.len(), distinct.len()), (3, 3), "{used:?}");
    assert!(playlist.songs[3].clips.is_empty());
    let err = matcher.playlist_clips(pb::PlaylistClipsRequest::default()).await.expect_err("empty playlist");
    assert_eq!(err.code(), Code::InvalidArgument);

    let status = idx.status(pb::StatusRequest {}).await.expect("still serving").into_inner();
    assert_eq!((status.songs, status.videos, status.failures), (1, 2, 2));
    assert_eq!(status.segment_search(), pb::SegmentSearch::Exact, "a small catalogue is searched exactly");
    assert!(!status.segment_search_codes, "no graph, so no codes to walk");

    // The other way round: the one song comes back for either video, and for a segment.
    let video_id = catalogue.videos[0].id.0.clone();
    let songs = matcher
        .best_songs(pb::BestSongsRequest { video_id: video_id.clone(), k: Some(3), ..Default::default() })
        .await
        .expect("BestSongs")
        .into_inner();
    assert_eq!(songs.songs.len(), 1);
    assert_eq!(songs.songs[0].song_id, catalogue.songs[0].id.0);
    let one = pb::BestSongsRequest { video_id: video_id.clone(), segment_ordinal: Some(0), k: Some(1) };
    let seg = matcher.best_songs(one).await.expect("BestSongs for a segment").into_inner();
    assert_eq!(seg.songs[0].song_id, catalogue.songs[0].id.0);
    let missing = pb::BestSongsRequest { video_id: "nope".into(), ..Default::default() };
    assert_eq!(matcher.best_songs(missing).await.expect_err("unknown video").code(), Code::NotFound);
    let zero = pb::BestSongsRequest { video_id: video_id.clone(), k: Some(0), ..Default::default() };
    let e = matcher.best_songs(zero).await.expect_err("k 0");
    assert!(e.code() == Code::InvalidArgument && e.message().contains("k = 0"), "{e:?}");
    let bad_segment = pb::BestSongsRequest { video_id, segment_ordinal: Some(9999), k: Some(1) };
    assert_eq!(matcher.best_songs(bad_segment).await.expect_err("unknown segment").code(), Code::NotFound);

    // The same song uploaded, or named under a media root, gets the same clips.
    let by_id = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::SongId(catalogue.songs[0].id.0.clone())),
        k: Some(3),
        ..Default::default()
    };
    // (Same clips, placed at the same start: the upload's onsets are the catalogue's.)
    let clips_of = |r: pb::BestClipsResponse| -> Vec<(String, u32, i64)> {
        r.clips
            .into_iter()
            .map(|c| (c.video_id, c.segment_ordinal, (c.range.expect("range").start_s * 1000.0).round() as i64))
            .collect()
    };
    let want = clips_of(matcher.best_clips(by_id.clone()).await.expect("by id").into_inner());
    let bytes = std::fs::read(&media.songs[0]).expect("read song");
    let upload = pb::BestClipsRequest { song: Some(pb::best_clips_request::Song::Audio(bytes)), ..by_id.clone() };
    let got = matcher.best_clips(upload.clone()).await.expect("by bytes").into_inner();
    assert_eq!(got.song_title, "uploaded song");
    assert_eq!(clips_of(got), want);
    let by_uri =
        pb::BestClipsRequest { song: Some(pb::best_clips_request::Song::SongUri("pulse.ogg".into())), ..by_id.clone() };
    assert_eq!(clips_of(matcher.best_clips(by_uri).await.expect("by uri").into_inner()), want);
    // Hostile or broken songs: precise codes, and the server keeps serving.
    let code = |r: Result<tonic::Response<pb::BestClipsResponse>, tonic::Status>| r.expect_err("refused").code();
    let with_uri =
        |u: &str| pb::BestClipsRequest { song: Some(pb::best_clips_request::Song::SongUri(u.into())), ..by_id.clone() };
    assert_eq!(code(matcher.best_clips(with_uri("/etc/passwd")).await), Code::PermissionDenied);
    assert_eq!(code(matcher.best_clips(with_uri("../../../../etc/passwd")).await), Code::PermissionDenied);
    assert_eq!(code(matcher.best_clips(with_uri("file:///etc/passwd")).await), Code::PermissionDenied);
    assert_eq!(code(matcher.best_clips(with_uri("https://example.com/a.mp3")).await), Code::InvalidArgument);
    assert_eq!(code(matcher.best_clips(with_uri("no-such.ogg")).await), Code::NotFound);
    assert_eq!(code(matcher.best_clips(with_uri("readme.ogg")).await), Code::InvalidArgument);
    let garbage = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::Audio(b"not a song at all".repeat(100))),
        ..upload.clone()
    };
    assert_eq!(code(matcher.best_clips(garbage).await), Code::InvalidArgument);
    // The song is a oneof, so two songs cannot be sent; an empty one is refused.
    let empty = pb::BestClipsRequest { song: Some(pb::best_clips_request::Song::SongId(String::new())), ..upload };
    assert_eq!(code(matcher.best_clips(empty).await), Code::InvalidArgument);

    // Prometheus metrics count what just happened.
    let text = http_get(metrics_addr, "/metrics").await;
    let count = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(count("tuneclip_requests_total{code=\"Ok\",method=\"BestClips\"}") >= 4.0);
    assert_eq!(count("tuneclip_requests_total{code=\"PermissionDenied\",method=\"BestClips\"}"), 3.0);
    assert_eq!(count("tuneclip_requests_total{code=\"NotFound\",method=\"BestSongs\"}"), 2.0);
    assert!(count("tuneclip_request_duration_seconds_count{method=\"BestClips\"}") >= 10.0);
    assert_eq!(count("tuneclip_index_videos"), 2.0);
    assert!(http_get(metrics_addr, "/other").await.starts_with("HTTP/1.1 404"));

    let _ = stop.send(());
    server.await.expect("join").expect("clean shutdown");
}

/// With room for one request at a time, concurrent renders are shed with
/// RESOURCE_EXHAUSTED (not queued, not failed otherwise), and the server recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_resource_exhausted() {
    let served = Served::start(640, 360, &[shot("testsrc2=size=640x360:rate=25", 8.0)], |config| {
        config.max_concurrent_requests = 1
    })
    .await;
    let (catalogue, addr) = (&served.catalogue, served.addr);
    let client = MatchServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let request = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::SongId(catalogue.songs[0].id.0.clone())),
        k: Some(1),
        clip_duration_s: Some(6.0),
        render: true,
        song_audio: true,
        ..Default::default()
    };
    let calls = (0..4).map(|_| {
        let mut c = client.clone();
        let r = request.clone();
        async move { c.best_clips(r).await.map(|_| ()).map_err(|s| s.code()) }
    });
    let results = futures_join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let shed = results.iter().filter(|r| **r == Err(Code::ResourceExhausted)).count();
    assert_eq!(ok + shed, 4, "{results:?}");
    assert!(ok >= 1 && shed >= 1, "{results:?}");
    // Once the work is done the server takes requests again.
    let mut c = client.clone();
    c.best_clips(pb::BestClipsRequest { render: false, ..request.clone() }).await.expect("served after the burst");
    // A deadline the render cannot meet ends the call with DEADLINE_EXCEEDED; the
    // server cancels the abandoned work and serves the next request.
    let mut late = tonic::Request::new(request.clone());
    late.set_timeout(std::time::Duration::from_millis(1));
    let err = c.best_clips(late).await.expect_err("deadline");
    assert!(matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled), "{err:?}");
    let mut served_again = None;
    for _ in 0..1200 {
        // The abandoned render may still hold the one permit until its next check (a
        // render already under way finishes first); this bounds a hang, not a speed.
        match c.best_clips(pb::BestClipsRequest { render: false, ..request.clone() }).await {
            Ok(r) => {
                served_again = Some(r);
                break;
            }
            Err(e) if e.code() == Code::ResourceExhausted => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("after a deadline: {e:?}"),
        }
    }
    assert!(served_again.is_some(), "the server never freed the abandoned request's permit");
    served.shutdown().await;
}

/// With a bearer token configured, calls without it (or with another) are
/// UNAUTHENTICATED; health stays open for load balancers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_is_required() {
    let served = Served::start(320, 180, &[shot("testsrc2=size=320x180:rate=25", 4.0)], |config| {
        config.auth_token = Some("s3cret-token".into())
    })
    .await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", served.addr))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut idx = IndexServiceClient::new(channel.clone());
    let err = idx.status(pb::StatusRequest {}).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    let with = |token: &str| {
        let mut r = tonic::Request::new(pb::StatusRequest {});
        r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        r
    };
    assert_eq!(idx.status(with("wrong-token!")).await.expect_err("wrong token").code(), Code::Unauthenticated);
    let status = idx.status(with("s3cret-token")).await.expect("right token").into_inner();
    assert_eq!(status.videos, 1);
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let h = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.expect("health");
    assert_eq!(h.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    served.shutdown().await;
}

/// Reload switches to the newest snapshot under a stream of concurrent queries without
/// failing one; a corrupt newer snapshot is refused and the last good one keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_request_and_refuses_corruption() {
    let served = Served::start(
        320,
        180,
        &[shot("testsrc2=size=320x180:rate=25", 3.0), shot("mandelbrot=size=320x180:rate=25", 3.0)],
        |_| {},
    )
    .await;
    let (catalogue, root, addr) = (&served.catalogue, served.root.clone(), served.addr);
    let url = format!("http://{addr}");
    let mut idx = IndexServiceClient::connect(url.clone()).await.expect("connect");
    let matcher = MatchServiceClient::connect(url).await.expect("connect");
    let request = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::SongId(catalogue.songs[0].id.0.clone())),
        k: Some(2),
        clip_duration_s: Some(2.0),
        ..Default::default()
    };

    // 300 queries from two clients while the snapshot is switched.
    let load: Vec<_> = (0..2)
        .map(|_| {
            let mut c = matcher.clone();
            let r = request.clone();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..150 {
                    if let Err(s) = c.best_clips(r.clone()).await {
                        failures.push(s.code());
                    }
                }
                failures
            })
        })
        .collect();
    let before = idx.status(pb::StatusRequest {}).await.expect("status").into_inner().snapshot;
    let newer = Snapshot::publish(&root, catalogue).expect("publish again");
    let after = idx.reload(pb::ReloadRequest {}).await.expect("reload").into_inner().snapshot;
    assert_ne!(before, after);
    assert_eq!(Some(after.as_str()), newer.file_name().and_then(|n| n.to_str()));
    for handle in load {
        assert_eq!(handle.await.expect("join"), Vec::new(), "queries failed during the reload");
    }

    // A corrupt newest snapshot: refused, and the good one keeps serving.
    let corrupt = Snapshot::publish(&root, catalogue).expect("publish a third");
    let graph = corrupt.join("segments.vec");
    let mut bytes = std::fs::read(&graph).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&graph, bytes).expect("write");
    let err = idx.reload(pb::ReloadRequest {}).await.expect_err("corrupt snapshot");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("segments.vec"), "{}", err.message());
    let serving = idx.status(pb::StatusRequest {}).await.expect("status").into_inner().snapshot;
    assert_eq!(serving, after);
    let mut c = matcher.clone();
    c.best_clips(request).await.expect("still answering");

    served.shutdown().await;
}

/// A one-song, one-video catalogue (synthetic media) served on 127.0.0.1:0.
struct Served {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    catalogue: tuneclip_index::Catalogue,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tuneclip_server::ServeError>>,
}

impl Served {
    async fn start(width: u32, height: u32, shots: &[ShotSpec], configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let song = tmp.path().join("s.ogg");
        make_song(&song, 100.0, 6.0, 55.0).expect("song");
        let video = tmp.path().join("v.mp4");
        make_video(&video, width, height, shots, None).expect("video");
        let catalogue = ingest(&[song], &[video], &IngestConfig { progress: false, ..IngestConfig::default() });
        let root = tmp.path().join("snapshots");
        Snapshot::publish(&root, &catalogue).expect("publish");
        let mut config = ServerConfig::new(tmp.path().join("renders"));
        configure(&mut config);
        let engine = Engine::new(Index::load_current(&root, tuneclip_model::MODEL_VERSION).expect("load"), config);
        let (listener, addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
            let _ = stopped.await;
        }));
        Self { _tmp: tmp, root, catalogue, addr, stop, server }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.server.await.expect("join").expect("clean shutdown");
    }
}

/// A plain HTTP/1.1 GET over loopback; the whole response (status line, headers, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out
}

/// Run futures concurrently and collect their outputs in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

/// Service names the server's reflection endpoint lists.
async fn reflected_services(channel: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream =
        client.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("reflection").into_inner();
    match stream.message().await.expect("stream").and_then(|r| r.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// Run tests/e2e/python_client.py (grpcio from setup.sh) against the server.
async fn python_client(addr: std::net::SocketAddr) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .env("PYTHONPATH", root.join("../index-data/assets/pylib-grpc"))
            .arg(root.join("e2e/python_client.py"))
            .arg(root.join("../proto"))
            .arg(addr.to_string())
            .output()
            .expect("python3")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "python client failed (run setup.sh): {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python client prints JSON")
}

/// A trained model folder (here freshly initialised: the plumbing is under test, not the
/// quality, which `tuneclip-training` measures) embeds the catalogue; its snapshot
/// records its version, another model refuses it, and the server answers from it.
#[test]
fn a_learned_model_builds_a_snapshot_that_other_models_refuse() {
    use burn::module::Module;
    use burn::prelude::{Config, Device};
    use tuneclip_model::Embedder;
    use tuneclip_model::learned::{CONFIG_FILE, EncodersConfig, WEIGHTS_FILE};

    let tmp = tempfile::tempdir().expect("tempdir");
    let media = make_media(tmp.path());
    let model_dir = tmp.path().join("model");
    std::fs::create_dir_all(&model_dir).expect("mkdir");
    let cfg = EncodersConfig::new().with_dim(16).with_hidden(32);
    cfg.save(model_dir.join(CONFIG_FILE)).expect("config");
    cfg.init(&Device::flex()).save_file(model_dir.join(WEIGHTS_FILE)).expect("weights");
    let model = Embedder::learned(&model_dir).expect("model loads");
    let version = model.version();
    assert!(version.starts_with("learned-"));

    let ingest_cfg = IngestConfig { progress: false, model, ..IngestConfig::default() };
    let catalogue = ingest(&media.songs, &media.videos, &ingest_cfg);
    assert_eq!((catalogue.songs.len(), catalogue.videos.len(), catalogue.failures.len()), (1, 2, 2));
    assert_eq!((catalogue.model_version.as_str(), catalogue.dim), (version.as_str(), 16));
    for e in catalogue.songs.iter().map(|s| &s.embedding).chain(catalogue.segments.iter().map(|s| &s.embedding)) {
        assert_eq!(e.len(), 16);
        assert!((tuneclip_core::dot(e, e) - 1.0).abs() < 1e-4);
    }
    // A handcrafted-model catalogue is not reused by a learned-model rebuild.
    let handcrafted = ingest(&media.songs, &media.videos, &IngestConfig { progress: false, ..IngestConfig::default() });
    let (_, stats) = tuneclip_ingest::ingest_incremental(&media.songs, &media.videos, &ingest_cfg, Some(&handcrafted));
    assert_eq!((stats.analysed, stats.reused), (3, 0));

    let root = tmp.path().join("snapshots");
    Snapshot::publish(&root, &catalogue).expect("publish");
    let refused = Index::load_current(&root, tuneclip_model::MODEL_VERSION).expect_err("other model refused");
    assert!(refused.to_string().contains(&version), "{refused}");
    let index = Index::load_current(&root, &version).expect("same model loads");
    let engine = Engine::new(index, ServerConfig::new(tmp.path().join("renders")));
    let resp = engine
        .best_clips(&tuneclip_server::ClipsRequest {
            song: tuneclip_server::SongSource::Catalogue(catalogue.songs[0].id.0.clone()),
            settings: tuneclip_server::ClipSettings {
                k: Some(2),
                clip_duration_s: Some(2.0),
                max_per_video: Some(1),
                ..Default::default()
            },
            delivery: tuneclip_server::Delivery::default(),
        })
        .expect("clips");
    assert_eq!(resp.clips.len(), 2);
}

/// ReframeService: a plan for any range (9:16 by default, or another aspect), a render
/// whose bytes stream back identical to the file, with the song under it; bad fields
/// get precise codes naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reframe_service_plans_renders_and_streams_the_mp4() {
    let shots = [shot("testsrc2=size=640x360:rate=25", 3.0), shot("mandelbrot=size=640x360:rate=25", 3.0)];
    let served = Served::start(640, 360, &shots, |_| {}).await;
    let mut client =
        tuneclip_server::ReframeServiceClient::connect(format!("http://{}", served.addr)).await.expect("connect");
    let video = served.catalogue.videos[0].id.0.clone();
    let song = served.catalogue.songs[0].id.0.clone();
    let range = |a: f64, b: f64| Some(pb::TimeRange { start_s: a, end_s: b });

    let plan = client
        .reframe(pb::ReframeRequest { video_id: video.clone(), range: range(1.0, 5.0), aspect: None })
        .await
        .expect("Reframe")
        .into_inner()
        .crop_plan
        .expect("plan");
    assert_eq!((plan.source_width, plan.source_height), (640, 360));
    assert_eq!(plan.shots.len(), 2, "the cut at 3 s splits the range: {:?}", plan.shots);
    for k in &plan.keyframes {
        let r = k.rect.expect("rect");
        assert!((f64::from(r.width) / f64::from(r.height) - 9.0 / 16.0).abs() < 0.02, "{r:?}");
        assert!(r.x + r.width <= 640 && r.y + r.height <= 360 && r.height == 360, "{r:?}");
    }
    let square = client
        .reframe(pb::ReframeRequest { video_id: video.clone(), range: range(0.0, 2.0), aspect: Some(1.0) })
        .await
        .expect("Reframe")
        .into_inner()
        .crop_plan
        .expect("plan");
    let r = square.keyframes[0].rect.expect("rect");
    assert_eq!((r.width, r.height), (360, 360));

    // Render, streamed: the first message names the files, the bytes follow.
    let req = pb::RenderRequest {
        video_id: video.clone(),
        range: range(1.0, 5.0),
        song_id: song.clone(),
        song_start_s: 0.5,
        stream_bytes: true,
        ..Default::default()
    };
    let mut stream = client.render(req.clone()).await.expect("Render").into_inner();
    let first = stream.message().await.expect("first").expect("a message");
    let Some(pb::render_chunk::Chunk::Header(header)) = first.chunk else { panic!("first message {first:?}") };
    assert!(header.crop_plan.is_some());
    let rendered = header.rendered.expect("the files");
    let mut bytes = Vec::new();
    while let Some(m) = stream.message().await.expect("chunk") {
        match m.chunk {
            Some(pb::render_chunk::Chunk::Data(d)) => {
                assert!(d.len() <= tuneclip_server::RENDER_CHUNK_BYTES);
                bytes.extend(d);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(bytes, fetch(&mut client, &rendered.render_id, pb::RenderFile::Video).await, "streamed = fetched");
    let mp4 = served._tmp.path().join("fetched.mp4");
    std::fs::write(&mp4, &bytes).expect("write");
    let info = tuneclip_media::video::probe(&mp4).expect("probe");
    assert_eq!((info.width, info.height), (rendered.width, rendered.height));
    assert!((f64::from(info.width) / f64::from(info.height) - 9.0 / 16.0).abs() < 0.02);
    assert!((info.duration_s - 4.0).abs() < 0.1, "{}", info.duration_s);
    let sound = tuneclip_media::audio::decode_native_mono(&mp4).expect("an audio track");
    assert!((sound.duration_s() - 4.0).abs() < 0.1, "{}", sound.duration_s());
    assert!(fetch(&mut client, &rendered.render_id, pb::RenderFile::Preview).await.starts_with(b"\x89PNG"));
    // FetchRender refuses what is not a render id, and one this server never made.
    for (id, file, code) in [
        ("../../etc/passwd", pb::RenderFile::Video, Code::InvalidArgument),
        (rendered.render_id.as_str(), pb::RenderFile::Unspecified, Code::InvalidArgument),
        ("never_rendered", pb::RenderFile::Video, Code::NotFound),
    ] {
        let req = pb::FetchRenderRequest { render_id: id.into(), file: file as i32 };
        let e = client.fetch_render(req).await.expect_err(id);
        assert_eq!(e.code(), code, "{e:?}");
    }
    // Without stream_bytes: the first message only.
    let mut stream =
        client.render(pb::RenderRequest { stream_bytes: false, ..req.clone() }).await.expect("Render").into_inner();
    assert!(stream.message().await.expect("first").is_some());
    assert!(stream.message().await.expect("end").is_none());

    // Bad fields: precise codes, the field named; the server keeps serving.
    let bad = [
        (
            pb::ReframeRequest { video_id: "nope".into(), range: range(0.0, 1.0), aspect: None },
            Code::NotFound,
            "video_id",
        ),
        (pb::ReframeRequest { video_id: video.clone(), range: None, aspect: None }, Code::InvalidArgument, "range"),
        (
            pb::ReframeRequest { video_id: video.clone(), range: range(5.0, 9.0), aspect: None },
            Code::InvalidArgument,
            "range",
        ),
        (
            pb::ReframeRequest { video_id: video.clone(), range: range(0.0, 1.0), aspect: Some(9.0) },
            Code::InvalidArgument,
            "aspect",
        ),
    ];
    for (req, code, field) in bad {
        let e = client.reframe(req).await.expect_err("refused");
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().starts_with(field), "{e:?}");
    }
    let e = client
        .render(pb::RenderRequest { song_start_s: 5.0, ..req.clone() })
        .await
        .expect_err("the song ends before the clip would");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("song_start_s"), "{e:?}");
    let e = client.render(pb::RenderRequest { song_id: "nope".into(), ..req.clone() }).await.expect_err("unknown song");
    assert_eq!(e.code(), Code::NotFound);
    // The output size: an absurd one refused by name, a small one obeyed.
    let e =
        client.render(pb::RenderRequest { max_height: Some(100_000), ..req.clone() }).await.expect_err("absurd size");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("max_height"), "{e:?}");
    let small = pb::RenderRequest { max_height: Some(160), stream_bytes: false, ..req };
    let mut stream = client.render(small).await.expect("Render").into_inner();
    let first = stream.message().await.expect("first").expect("a message");
    let Some(pb::render_chunk::Chunk::Header(pb::RenderHeader { rendered: Some(r), .. })) = first.chunk else {
        panic!("first message {first:?}")
    };
    assert_eq!(r.height, 160, "{r:?}");
    served.shutdown().await;
}

/// The bytes of a render's file by FetchRender.
async fn fetch(
    client: &mut tuneclip_server::ReframeServiceClient<tonic::transport::Channel>,
    render_id: &str,
    file: pb::RenderFile,
) -> Vec<u8> {
    let req = pb::FetchRenderRequest { render_id: render_id.into(), file: file as i32 };
    let mut stream = client.fetch_render(req).await.expect("FetchRender").into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        assert!(chunk.data.len() <= tuneclip_server::RENDER_CHUNK_BYTES);
        bytes.extend(chunk.data);
    }
    bytes
}

/// PlaylistClipsStream: the same answers as PlaylistClips, one message per song in
/// order, no segment reused; an unknown song refuses the call before any answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_clips_stream_answers_song_by_song() {
    let shots = [
        shot("testsrc2=size=640x360:rate=25", 3.0),
        shot("mandelbrot=size=640x360:rate=25", 3.0),
        shot("rgbtestsrc=size=640x360:rate=25", 3.0),
    ];
    let served = Served::start(640, 360, &shots, |_| {}).await;
    let mut client = MatchServiceClient::connect(format!("http://{}", served.addr)).await.expect("connect");
    let song = served.catalogue.songs[0].id.0.clone();
    let req = pb::PlaylistClipsRequest {
        song_ids: vec![song.clone(), song.clone(), song.clone()],
        clips_per_song: Some(1),
        clip_duration_s: Some(2.0),
        ..Default::default()
    };
    let unary = client.playlist_clips(req.clone()).await.expect("PlaylistClips").into_inner().songs;
    let mut stream = client.playlist_clips_stream(req.clone()).await.expect("stream").into_inner();
    let mut streamed = Vec::new();
    while let Some(answer) = stream.message().await.expect("message") {
        streamed.push(answer);
    }
    assert_eq!(streamed, unary);
    assert_eq!(streamed.len(), 3);
    let used: std::collections::HashSet<(String, u32)> =
        streamed.iter().flat_map(|a| a.clips.iter().map(|c| (c.video_id.clone(), c.segment_ordinal))).collect();
    assert_eq!(used.len(), 3, "a segment was reused: {streamed:?}");

    let e = client
        .playlist_clips_stream(pb::PlaylistClipsRequest { song_ids: vec![song, "nope".into()], ..req })
        .await
        .expect_err("unknown song");
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().starts_with("song_ids[1]"), "{e:?}");
    served.shutdown().await;
}
