//! The searches on small catalogues built in the test.

use super::*;
use crate::snapshot::PublishOptions;
use crate::{SegmentEntry, SongEntry};
use tuneclip_audio::{Highlight, SongAnalysis, SongFeatures};
use tuneclip_core::TimeRange;
use tuneclip_core::sync::SYNC_WEIGHT;
use tuneclip_core::{ContentId, l2_normalize};
use tuneclip_vision::SegmentStats;

mod windows;

fn seg(video: &str, ordinal: u32, start: f64, end: f64, v: [f32; 3]) -> SegmentEntry {
    let mut e = v.to_vec();
    l2_normalize(&mut e);
    SegmentEntry {
        video: ContentId(video.into()),
        ordinal,
        stats: SegmentStats {
            range: TimeRange::new(start, end),
            motion: 1.0,
            brightness: 100.0,
            colourfulness: 10.0,
            blank: false,
            subtitles: None,
            text_share: None,
        },
        embedding: e,
    }
}

fn catalogue(segments: Vec<SegmentEntry>) -> Catalogue {
    Catalogue {
        model_version: "test-v1".into(),
        dim: 3,
        songs: vec![SongEntry {
            id: ContentId("song1".into()),
            path: "s.ogg".into(),
            title: "s".into(),
            analysis: SongAnalysis {
                features: SongFeatures {
                    duration_s: 1.0,
                    loudness_db: -10.0,
                    dynamics_db: 1.0,
                    centroid_hz: 1.0,
                    bass_ratio: 0.1,
                    onset_mean: 1.0,
                    onset_rate_hz: 1.0,
                    tempo_bpm: 100.0,
                },
                beats_s: vec![],
                loudness: None,
                chroma_mean: [0.0; 12],
                highlight: Highlight { range: TimeRange::new(0.0, 1.0), score: 0.0 },
            },
            pitch: None,
            onsets: Default::default(),
            embedding: vec![1.0, 0.0, 0.0],
        }],
        videos: vec![],
        segments,
        failures: vec![],
    }
}

fn video(id: &str, duration_s: f64, segs: &[&SegmentEntry]) -> crate::VideoEntry {
    crate::VideoEntry {
        id: ContentId(id.into()),
        path: format!("{id}.mp4").into(),
        title: id.into(),
        analysis: tuneclip_vision::VideoAnalysis {
            version: tuneclip_vision::ANALYSIS_VERSION,
            info: tuneclip_media::video::VideoInfo { width: 640, height: 360, duration_s, fps: 25.0 },
            sample_fps: 10.0,
            cuts: Vec::new(),
            transitions: Vec::new(),
            active: tuneclip_core::Rect::new(0, 0, 640, 360),
            logos: Vec::new(),
            segments: segs.iter().map(|s| s.stats).collect(),
            saliency: Vec::new(),
            faces: Vec::new(),
            faces_analysed: true,
            detail_faces: Default::default(),
            text_analysed: true,
            transnet_analysed: false,
            transnet_fuse: Default::default(),
            damage: Default::default(),
            events: Default::default(),
        },
    }
}

#[test]
fn preferred_segments_come_first_under_the_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = vec![
        seg("a", 0, 0.0, 6.0, [1.0, 0.0, 0.0]),
        seg("b", 0, 0.0, 6.0, [1.0, 0.5, 0.0]),
        seg("c", 0, 0.0, 6.0, [0.0, 1.0, 0.0]),
        seg("d", 0, 0.0, 2.0, [0.0, 0.0, 1.0]),
    ];
    Snapshot::publish(dir.path(), &catalogue(segs)).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let ids = |q: &ClipQuery| -> Vec<String> {
        index.best_clips_for_song("song1", q).expect("search").iter().map(|c| c.video.0.clone()).collect()
    };
    let mut q = ClipQuery { k: 3, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
    assert_eq!(ids(&q), vec!["a", "b", "c"]);
    // An approved segment far from the song leads; one too short for the clip does not.
    q.prefer.insert(("c".into(), 0));
    q.prefer.insert(("d".into(), 0));
    assert_eq!(ids(&q), vec!["c", "a", "b"]);
    // The filters still rule: an excluded video is not returned even if preferred.
    q.filter.exclude_videos.insert("c".into());
    assert_eq!(ids(&q), vec!["a", "b"]);
}

#[test]
fn clips_sit_in_their_segment_where_they_are_in_sync() {
    use tuneclip_core::sync::SYNC_STEP_S;
    let dir = tempfile::tempdir().expect("tempdir");
    // "pulse": a 10 s shot flashing every 12 bins from bin 7; "still": a 10 s shot
    // with no events, a little more similar to the song.
    let bins = (10.0 / SYNC_STEP_S).round() as usize;
    let pulse = seg("pulse", 0, 0.0, 10.0, [1.0, 0.1, 0.0]);
    let still = seg("still", 0, 0.0, 10.0, [1.0, 0.0, 0.0]);
    let mut cat = catalogue(vec![pulse.clone(), still.clone()]);
    let mut v_pulse = video("pulse", 10.0, &[&pulse]);
    v_pulse.analysis.events = tuneclip_core::sync::SyncEnvelope::quantise(
        &(0..bins).map(|i| if i % 12 == 7 { 10.0 } else { 1.0 }).collect::<Vec<f32>>(),
    );
    let mut v_still = video("still", 10.0, &[&still]);
    v_still.analysis.events = tuneclip_core::sync::SyncEnvelope::quantise(&vec![1.0; bins]);
    cat.videos = vec![v_pulse, v_still];
    Snapshot::publish(dir.path(), &cat).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let song = index.song("song1").expect("song").embedding.clone();
    let plain = ClipQuery { k: 2, clip_duration_s: 4.0, ..ClipQuery::default() };
    // Without onsets: centred, similarity order, no sync.
    let c = index.best_clips(&song, &plain).expect("clips");
    assert_eq!(c.iter().map(|c| c.video.0.as_str()).collect::<Vec<_>>(), ["still", "pulse"]);
    assert!(c.iter().all(|c| c.range == TimeRange::new(3.0, 7.0) && c.sync.is_none()), "{c:?}");
    // With onsets every 12 bins from bin 1 (4 s = 100 bins): "pulse" goes first, its
    // clip starting where its flashes land on the onsets (start bin = 6 mod 12),
    // still inside its shot; the flat shot has no events to correlate (sync 0).
    let onsets: Vec<f32> = (0..100).map(|i| if i % 12 == 1 { 4.0 } else { 0.5 }).collect();
    let c_onsets = onsets.clone();
    let c = index.best_clips(&song, &ClipQuery { onsets, ..plain.clone() }).expect("clips");
    assert_eq!(c[0].video.0, "pulse", "{c:?}");
    assert!(c[0].sync.expect("sync") > 0.99, "{c:?}");
    assert_eq!((c[0].range.start_s / SYNC_STEP_S).round() as usize % 12, 6, "{c:?}");
    assert!(c[0].range.start_s >= 0.0 && c[0].range.end_s <= 10.0 + 1e-9);
    assert!((c[0].range.duration_s() - 4.0).abs() < 1e-9);
    assert_eq!(c[1].sync, Some(0.0));
    assert!(c[0].rank_score() > c[1].rank_score());
    // A reviewer approved 6-10 s of "still": its clip leads, on that part of the shot.
    let approved = ClipQuery {
        onsets: c_onsets.clone(),
        prefer: [("still".to_string(), 0)].into_iter().collect(),
        prefer_ranges: vec![("still".to_string(), TimeRange::new(6.0, 10.0))],
        ..plain.clone()
    };
    let a = index.best_clips(&song, &approved).expect("clips");
    assert_eq!((a[0].video.0.as_str(), a[0].range), ("still", TimeRange::new(6.0, 10.0)), "{a:?}");
    // Onsets that do not cover the clip are refused, naming the field.
    assert!(matches!(
        index.best_clips(&song, &ClipQuery { onsets: vec![1.0; 10], ..plain }),
        Err(IndexError::InvalidQuery(m)) if m.contains("onsets")
    ));
}

#[test]
fn subtitled_and_heavy_text_segments_are_skipped_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut talking = seg("talk", 0, 0.0, 6.0, [1.0, 0.0, 0.0]);
    talking.stats.subtitles = Some(tuneclip_core::Rect::new(100, 600, 400, 40));
    talking.stats.text_share = Some(0.06);
    let mut titled = seg("title", 0, 0.0, 6.0, [1.0, 0.1, 0.0]);
    titled.stats.text_share = Some(0.2);
    let mut quiet = seg("quiet", 0, 0.0, 6.0, [1.0, 0.3, 0.0]);
    quiet.stats.text_share = Some(0.0);
    Snapshot::publish(dir.path(), &catalogue(vec![talking, titled, quiet])).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let q = ClipQuery { k: 3, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
    let ids = |q: &ClipQuery| -> Vec<String> {
        index.best_clips_for_song("song1", q).expect("search").iter().map(|c| c.video.0.clone()).collect()
    };
    assert_eq!(ids(&q), vec!["quiet"]);
    let mut allow = q.clone();
    allow.filter.allow_subtitled = true;
    assert_eq!(ids(&allow), vec!["talk", "quiet"]);
    allow.filter.allow_heavy_text = true;
    assert_eq!(ids(&allow), vec!["talk", "title", "quiet"]);
    let flags = |v: &str| index.segment(v, 0).expect("segment").stats.flags();
    use tuneclip_vision::QualityFlag::{HeavyText, Subtitled};
    assert_eq!((flags("talk"), flags("title"), flags("quiet")), (vec![Subtitled], vec![HeavyText], vec![]));
}

/// Under filters that leave few segments the search reaches its exact stage; its
/// clips equal a brute-force reference (every segment, the same rules). A clip
/// longer than every segment is answered at once, with nothing.
#[test]
fn heavily_filtered_searches_are_exact() {
    let root = tempfile::tempdir().expect("tempdir");
    let cat = crate::synthetic::catalogue(8_000, 40, 6);
    let snap = Snapshot::publish(root.path(), &cat).expect("publish");
    let index = Index::load_current(root.path(), crate::synthetic::MODEL_VERSION).expect("load");
    assert_eq!(index.segment_search_kind(), tuneclip_ann::IndexKind::Hnsw);
    // 32 dims of clustered data: the graph walks 8-bit codes, as its build recorded.
    assert!(index.segment_search_codes());
    assert!(Snapshot::verify(&snap).expect("manifest").segment_codes);
    let segs = &index.catalogue.segments;
    let reference = |song: &[f32], q: &ClipQuery| -> Vec<(String, u32)> {
        let mut all: Vec<(f32, usize)> = (0..segs.len())
            .filter(|&i| {
                let s = &segs[i];
                !s.stats.blank
                    && s.stats.range.duration_s() + 1e-6 >= q.clip_duration_s
                    && !q.filter.exclude_videos.contains(&s.video.0)
            })
            .map(|i| (tuneclip_core::dot(song, &segs[i].embedding), i))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(segs[a.1].video.cmp(&segs[b.1].video)));
        let mut per_video: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (_, i) in all {
            let c = per_video.entry(segs[i].video.0.as_str()).or_default();
            if *c < q.max_per_video && out.len() < q.k {
                *c += 1;
                out.push((segs[i].video.0.clone(), segs[i].ordinal));
            }
        }
        out
    };
    let videos: Vec<String> = index.catalogue.videos.iter().map(|v| v.id.0.clone()).collect();
    for (song, keep) in index.catalogue.songs.iter().zip([3usize, 5, 8, 13, 40, 200]) {
        // Every video but `keep` of them excluded (by a stride, so not the nearest).
        let mut q = ClipQuery { k: 8, clip_duration_s: 3.0, max_per_video: 2, ..ClipQuery::default() };
        q.filter.exclude_videos =
            videos.iter().enumerate().filter(|(i, _)| i % (200 / keep).max(1) != 0).map(|(_, v)| v.clone()).collect();
        let got: Vec<(String, u32)> = index
            .best_clips(&song.embedding, &q)
            .expect("search")
            .into_iter()
            .map(|c| (c.video.0, c.segment_ordinal))
            .collect();
        assert_eq!(got, reference(&song.embedding, &q), "{keep} videos left");
    }
    let long = ClipQuery { k: 5, clip_duration_s: 4.6, ..ClipQuery::default() };
    assert!(index.best_clips(&index.catalogue.songs[0].embedding, &long).expect("search").is_empty());
}

#[test]
fn publish_load_search_and_refuse_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 300 segments spread over the half-sphere facing away from the song, so the
    // HNSW path (not the exhaustive fallback) is exercised.
    let mut state = 12345u64;
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let mut segs: Vec<SegmentEntry> =
        (0..300).map(|i| seg(&format!("v{:03}", i % 50), i, 0.0, 10.0, [-rnd().abs(), rnd(), rnd()])).collect();
    segs.push(seg("best", 0, 2.0, 8.0, [1.0, 0.05, 0.0]));
    segs.push(seg("best", 1, 8.0, 9.0, [1.0, 0.0, 0.0])); // closest of all, but too short
    segs.push(seg("second", 0, 0.0, 5.0, [1.0, 0.2, 0.0]));
    segs.push(seg("best", 2, 9.0, 15.0, [1.0, 0.1, 0.0])); // same video as the winner
    // A graph even for this small set, so the HNSW path is what answers.
    let opts = PublishOptions { hnsw_min_vectors: 0, ..PublishOptions::default() };
    let snap = Snapshot::publish_with(dir.path(), &catalogue(segs), &opts).expect("publish");
    assert_eq!(Snapshot::current(dir.path()).expect("current"), snap);

    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    assert_eq!(index.segment_search_kind(), tuneclip_ann::IndexKind::Hnsw);
    let q = ClipQuery { k: 2, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
    let clips = index.best_clips_for_song("song1", &q).expect("search");
    let got: Vec<(&str, u32)> = clips.iter().map(|c| (c.video.0.as_str(), c.segment_ordinal)).collect();
    assert_eq!(got, vec![("best", 0), ("second", 0)]);
    assert_eq!(clips[0].range, TimeRange::new(3.0, 7.0));
    assert!(clips[0].score > clips[1].score);

    assert!(matches!(Index::load_current(dir.path(), "other-v2"), Err(IndexError::ModelVersion { .. })));
    assert!(matches!(index.best_clips_for_song("nope", &q), Err(IndexError::UnknownSong(_))));
    assert!(matches!(
        index.best_clips_for_song("song1", &ClipQuery { k: 0, ..q.clone() }),
        Err(IndexError::InvalidQuery(_))
    ));

    // Filters: without the winner's video, or with its first segment already used.
    let mut f = q.clone();
    f.filter.exclude_videos.insert("best".into());
    let got: Vec<String> =
        index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
    assert_eq!(got[0], "second");
    let mut f = q.clone();
    f.filter.exclude_segments.insert(("best".into(), 0));
    let clips = index.best_clips_for_song("song1", &f).expect("search");
    assert_eq!((clips[0].video.0.as_str(), clips[0].segment_ordinal), ("best", 2));
    let mut f = q.clone();
    f.filter.only_videos.insert("second".into());
    let got: Vec<String> =
        index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
    assert_eq!(got, vec!["second".to_string()]);

    // Older snapshots are pruned; the current one always survives.
    let newer = Snapshot::publish_with(dir.path(), &index.catalogue, &opts).expect("publish again");
    assert_ne!(newer, snap);
    let removed = Snapshot::prune(dir.path(), 1).expect("prune");
    assert_eq!(removed, vec![snap.clone()]);
    assert_eq!(Snapshot::current(dir.path()).expect("current"), newer);
    Index::load_current(dir.path(), "test-v1").expect("the newest still loads");
    let snap = newer;

    // Flip one byte of the graph: the snapshot must be refused by its checksum.
    let graph = snap.join("segments.graph");
    let mut bytes = std::fs::read(&graph).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&graph, bytes).expect("write");
    match Index::load_current(dir.path(), "test-v1") {
        Err(IndexError::Checksum { file, .. }) => assert_eq!(file, "segments.graph"),
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[test]
fn filters_widen_the_search_and_songs_come_back_for_a_video() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 5,000 segments near the song from 50 videos, then one far one from "other":
    // excluding the 50 must still find "other" (the candidates widen).
    let mut state = 99u64;
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as f32 / (1u64 << 31) as f32
    };
    let mut segs: Vec<SegmentEntry> = (0..5000)
        .map(|i| seg(&format!("v{:02}", i % 50), i / 50, 0.0, 6.0, [1.0, 0.05 + rnd() * 0.5, rnd() - 0.5]))
        .collect();
    segs.push(seg("other", 0, 0.0, 6.0, [-1.0, 0.2, 0.0]));
    segs.push(seg("logo", 0, 0.0, 6.0, [1.0, 0.0, 0.0]));
    let mut cat = catalogue(segs);
    let mut second = cat.songs[0].clone();
    second.id = ContentId("song2".into());
    second.embedding = vec![-1.0, 0.2, 0.0];
    tuneclip_core::l2_normalize(&mut second.embedding);
    cat.songs.push(second);
    let mut analysis: tuneclip_vision::VideoAnalysis =
        serde_json::from_str(r#"{"info":{"width":640,"height":360,"duration_s":6.0,"fps":25.0},"sample_fps":10.0,"active":{"x":0,"y":0,"width":640,"height":360},"cuts":[],"segments":[],"saliency":[]}"#)
            .expect("analysis");
    analysis.logos = vec![tuneclip_core::Rect::new(10, 10, 40, 20)];
    analysis.saliency = (0..60)
        .map(|i| tuneclip_vision::FrameSaliency { t_s: i as f64 / 10.0, centre: Some((320.0, 180.0)), extent: None })
        .collect();
    cat.videos.push(crate::VideoEntry {
        id: ContentId("logo".into()),
        path: "logo.mp4".into(),
        title: "logo".into(),
        analysis,
    });
    let opts = PublishOptions { hnsw_min_vectors: 1000, ..PublishOptions::default() };
    Snapshot::publish_with(dir.path(), &cat, &opts).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    assert_eq!(index.segment_search_kind(), tuneclip_ann::IndexKind::Hnsw);
    // The served catalogue keeps a light analysis; the whole one is read on demand.
    assert!(index.video("logo").expect("video").analysis.saliency.is_empty());
    assert_eq!(index.video_analysis("logo").expect("analysis").saliency.len(), 60);
    let full = Snapshot::current_catalogue(dir.path()).expect("full catalogue");
    assert_eq!(full.video("logo").expect("video").analysis, cat.videos[0].analysis);

    let q = ClipQuery { k: 1, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
    assert_eq!(index.best_clips_for_song("song1", &q).expect("search")[0].video.0, "logo");
    let mut no_logo = q.clone();
    no_logo.filter.exclude_logos = true;
    assert_ne!(index.best_clips_for_song("song1", &no_logo).expect("search")[0].video.0, "logo");
    let mut f = no_logo.clone();
    f.filter.exclude_videos = (0..50).map(|i| format!("v{i:02}")).collect();
    let got = index.best_clips_for_song("song1", &f).expect("search");
    assert_eq!(got.iter().map(|c| c.video.0.as_str()).collect::<Vec<_>>(), vec!["other"]);
    let mut only = q.clone();
    only.filter.only_videos.insert("other".into());
    assert_eq!(index.best_clips_for_song("song1", &only).expect("search")[0].video.0, "other");

    let songs = index.best_songs_for_video("other", None, 2).expect("songs");
    assert_eq!(
        songs.iter().map(|h| index.catalogue.songs[h.index].id.0.as_str()).collect::<Vec<_>>(),
        vec!["song2", "song1"]
    );
    let songs = index.best_songs_for_video("v03", Some(2), 1).expect("songs");
    assert_eq!(index.catalogue.songs[songs[0].index].id.0, "song1");
    assert!(matches!(index.best_songs_for_video("nope", None, 1), Err(IndexError::UnknownVideo(_))));
    assert!(matches!(index.best_songs_for_video("v03", Some(999), 1), Err(IndexError::UnknownSegment(..))));
}

#[test]
fn a_format_2_snapshot_is_reused_by_a_rebuild_but_not_served() {
    // Format 2 kept each video's whole analysis as a JSON line of analyses.jsonl.
    let root = tempfile::tempdir().expect("tempdir");
    let cat = crate::synthetic::catalogue(80, 4, 2);
    assert!(cat.videos.iter().all(|v| !v.analysis.faces.is_empty() && !v.analysis.saliency.is_empty()));
    let dir = Snapshot::publish(root.path(), &cat).expect("publish");
    let (mut lines, mut ranges) = (Vec::new(), Vec::new());
    for v in &cat.videos {
        let line = serde_json::to_vec(&v.analysis).expect("json");
        ranges.push([lines.len() as u64, line.len() as u64]);
        lines.extend(line);
        lines.push(b'\n');
    }
    std::fs::write(dir.join("analyses.jsonl"), lines).expect("write");
    std::fs::remove_file(dir.join("frames.bin")).expect("remove");
    let cat_path = dir.join("catalogue.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cat_path).expect("read")).expect("json");
    let obj = c.as_object_mut().expect("object");
    obj.remove("frames");
    obj.insert("analyses".into(), serde_json::json!(ranges));
    std::fs::write(&cat_path, serde_json::to_vec(&c).expect("json")).expect("write");
    let m_path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&m_path).expect("read")).expect("json");
    m["format_version"] = 2.into();
    let files: serde_json::Map<String, serde_json::Value> =
        ["catalogue.json", "analyses.jsonl", "segments.vec", "songs.vec"]
            .iter()
            .map(|f| (f.to_string(), crate::snapshot::sha256_file(&dir.join(f)).expect("sha").into()))
            .collect();
    m["files"] = files.into();
    std::fs::write(&m_path, serde_json::to_vec(&m).expect("json")).expect("write");

    let old = Snapshot::current_catalogue(root.path()).expect("a format 2 catalogue reads");
    assert_eq!(old.videos.len(), cat.videos.len());
    for (a, b) in old.videos.iter().zip(&cat.videos) {
        assert_eq!(a.analysis, b.analysis, "video {}", a.id);
    }
    match Index::load_current(root.path(), crate::synthetic::MODEL_VERSION) {
        Err(IndexError::Corrupt { reason, .. }) => assert!(reason.contains("tuneclip ingest"), "{reason}"),
        other => panic!("expected a refusal asking for a rebuild, got {other:?}"),
    }
}

#[test]
fn a_format_1_snapshot_is_reused_by_a_rebuild_but_not_served() {
    // Format 1 kept embeddings inside catalogue.json and no analyses file.
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("snap-1-1-0");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cat = catalogue(vec![seg("old", 0, 0.0, 6.0, [1.0, 0.2, 0.0])]);
    let json = serde_json::to_vec(&cat).expect("json");
    std::fs::write(dir.join("catalogue.json"), &json).expect("write");
    let manifest = serde_json::json!({
        "format_version": 1, "name": "snap-1-1-0", "model_version": "test-v1", "dim": 3,
        "songs": 1, "videos": 0, "segments": 1, "hnsw_basename": null,
        "files": {"catalogue.json": crate::snapshot::sha256_file(&dir.join("catalogue.json")).expect("sha")},
    });
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&manifest).expect("json")).expect("write");
    std::fs::write(root.path().join("CURRENT"), "snap-1-1-0").expect("write");

    let old = Snapshot::current_catalogue(root.path()).expect("a format 1 catalogue reads");
    assert_eq!(old.segments[0].embedding, cat.segments[0].embedding);
    assert_eq!(old.songs[0].embedding, cat.songs[0].embedding);
    match Index::load_current(root.path(), "test-v1") {
        Err(IndexError::Corrupt { reason, .. }) => assert!(reason.contains("tuneclip ingest"), "{reason}"),
        other => panic!("expected a refusal asking for a rebuild, got {other:?}"),
    }
}
