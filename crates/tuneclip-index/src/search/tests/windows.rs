//! Window search: spanning segments, sync with the song's onsets, shot changes on beats.

use super::*;

#[test]
fn windows_span_segments_and_avoid_refused_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Video "long" (12 s): a poor first shot, two close ones, a subtitled last one.
    let l0 = seg("long", 0, 0.0, 3.0, [0.0, 1.0, 0.0]);
    let l1 = seg("long", 1, 3.0, 6.0, [1.0, 0.0, 0.0]);
    let l2 = seg("long", 2, 6.0, 9.0, [1.0, 0.1, 0.0]);
    let mut l3 = seg("long", 3, 9.0, 12.0, [1.0, 0.0, 0.0]);
    l3.stats.subtitles = Some(tuneclip_core::Rect::new(100, 300, 400, 40));
    // Video "short" (4 s): the closest shot, but too short for a 6 s window.
    let s0 = seg("short", 0, 0.0, 4.0, [1.0, 0.0, 0.0]);
    // Video "other" (8 s): middling.
    let o0 = seg("other", 0, 0.0, 8.0, [1.0, 1.0, 0.0]);
    let mut cat = catalogue(vec![l0.clone(), l1.clone(), l2.clone(), l3.clone(), s0.clone(), o0.clone()]);
    cat.videos =
        vec![video("long", 12.0, &[&l0, &l1, &l2, &l3]), video("short", 4.0, &[&s0]), video("other", 8.0, &[&o0])];
    Snapshot::publish(dir.path(), &cat).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let song = index.song("song1").expect("song").embedding.clone();
    let q = WindowQuery {
        k: 3,
        duration_s: 6.0,
        filter: ClipFilter::default(),
        beats_s: Vec::new(),
        onsets: Vec::new(),
        onsets_unit: None,
    };
    let w = index.best_windows(&song, &q).expect("windows");
    assert_eq!(w.len(), 2, "the 4 s video cannot hold a 6 s window: {w:?}");
    assert_eq!(w[0].video.0, "long");
    // Shots 1 and 2 (3..9 s): the subtitled shot 3 and the poor shot 0 are left out.
    assert_eq!(w[0].range, TimeRange::new(3.0, 9.0));
    assert_eq!(w[0].segments, vec![1, 2]);
    let expected = (1.0 + 1.0 / 1.01f32.sqrt()) / 2.0;
    assert!((w[0].score - expected).abs() < 1e-4, "{} vs {expected}", w[0].score);
    assert_eq!(w[1].video.0, "other");
    assert!(w[1].range.start_s >= 0.0 && w[1].range.end_s <= 8.0 + 1e-9);
    // Excluding shot 2 (a rejected clip) moves the window of "long" off it.
    let mut f = q.clone();
    f.filter.exclude_segments.insert(("long".into(), 2));
    let w = index.best_windows(&song, &f).expect("windows");
    assert!(w.iter().all(|w| !(w.video.0 == "long" && w.segments.contains(&2))), "{w:?}");
    assert!(matches!(
        index.best_windows(&song, &WindowQuery { duration_s: 0.0, ..q.clone() }),
        Err(IndexError::InvalidQuery(_))
    ));
}

#[test]
fn windows_line_picture_events_up_with_the_songs_onsets() {
    use tuneclip_core::sync::SYNC_STEP_S;
    let dir = tempfile::tempdir().expect("tempdir");
    // Two 20 s videos of one equally good shot each. "pulse" flashes every 12 bins
    // (0.48 s) from bin 5; "drift" flashes every 17 bins. "lesser" pulses like
    // "pulse" but is less similar to the song.
    let bins = (20.0 / SYNC_STEP_S).round() as usize;
    let flashes = |period: usize, phase: usize| -> tuneclip_core::sync::SyncEnvelope {
        tuneclip_core::sync::SyncEnvelope::quantise(
            &(0..bins).map(|i| if i % period == phase % period { 10.0 } else { 1.0 }).collect::<Vec<f32>>(),
        )
    };
    let pulse = seg("pulse", 0, 0.0, 20.0, [1.0, 0.0, 0.0]);
    let drift = seg("drift", 0, 0.0, 20.0, [1.0, 0.0, 0.0]);
    let lesser = seg("lesser", 0, 0.0, 20.0, [0.2, 1.0, 0.0]);
    let mut cat = catalogue(vec![pulse.clone(), drift.clone(), lesser.clone()]);
    let mut v_pulse = video("pulse", 20.0, &[&pulse]);
    v_pulse.analysis.events = flashes(12, 5);
    let mut v_drift = video("drift", 20.0, &[&drift]);
    v_drift.analysis.events = flashes(17, 0);
    let mut v_lesser = video("lesser", 20.0, &[&lesser]);
    v_lesser.analysis.events = flashes(12, 5);
    cat.videos = vec![v_pulse, v_drift, v_lesser];
    Snapshot::publish(dir.path(), &cat).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let song = index.song("song1").expect("song").embedding.clone();
    // A 6 s song window with an onset every 12 bins from bin 2.
    let onsets: Vec<f32> = (0..150).map(|i| if i % 12 == 2 { 5.0 } else { 0.5 }).collect();
    let plain = WindowQuery {
        k: 3,
        duration_s: 6.0,
        filter: ClipFilter::default(),
        beats_s: vec![],
        onsets: vec![],
        onsets_unit: None,
    };
    let synced = WindowQuery { onsets: onsets.clone(), ..plain.clone() };

    // Without onsets: similarity alone, a tie broken by video id; no sync.
    let w = index.best_windows(&song, &plain).expect("windows");
    assert_eq!(w.iter().map(|w| w.video.0.as_str()).collect::<Vec<_>>(), ["drift", "pulse", "lesser"]);
    assert!(w.iter().all(|w| w.rank_score() == w.score));
    assert!(w.iter().all(|w| w.sync.is_none()));
    // With them: "pulse" first, its window placed so that every flash lands on an
    // onset (start bin = 5 - 2 mod 12), in perfect sync; "drift" is not.
    let w = index.best_windows(&song, &synced).expect("windows");
    assert_eq!(w[0].video.0, "pulse", "{w:?}");
    let start_bin = (w[0].range.start_s / SYNC_STEP_S).round() as usize;
    assert_eq!(start_bin % 12, 3, "{:?}", w[0].range);
    assert!(w[0].sync.expect("sync") > 0.99, "{:?}", w[0].sync);
    assert!((w[0].rank_score() - (w[0].score + SYNC_WEIGHT * w[0].sync.expect("sync"))).abs() < 1e-6);
    let d = w.iter().find(|w| w.video.0 == "drift").expect("drift");
    assert!(d.sync.expect("sync") < 0.5, "{d:?}");
    // "lesser", in perfect sync too, ranks by the same sum: videos go best rank first.
    assert!(w.iter().find(|w| w.video.0 == "lesser").expect("lesser").sync.expect("sync") > 0.99);
    assert!(w.windows(2).all(|p| p[0].rank_score() >= p[1].rank_score()), "{w:?}");
    // The song's beats count beside its onsets: with a beat every 17 bins the video
    // cut to that grid ("drift") lines up best, though no onset marks its beats.
    let on_beats =
        WindowQuery { beats_s: (0..9).map(|k| f64::from(k) * 17.0 * SYNC_STEP_S).collect(), ..synced.clone() };
    let w = index.best_windows(&song, &on_beats).expect("windows");
    assert_eq!(w[0].video.0, "drift", "{w:?}");
    assert_eq!((w[0].range.start_s / SYNC_STEP_S).round() as usize % 17, 0, "{:?}", w[0].range);
    // A video without picture events has no sync (visible, not a silent zero).
    let mut no_events = cat.clone();
    no_events.videos[0].analysis.events = Default::default();
    let dir2 = tempfile::tempdir().expect("tempdir");
    Snapshot::publish(dir2.path(), &no_events).expect("publish");
    let index2 = Index::load_current(dir2.path(), "test-v1").expect("load");
    let w = index2.best_windows(&song, &synced).expect("windows");
    assert_eq!(w.iter().find(|w| w.video.0 == "pulse").expect("pulse").sync, None);
    // Onsets must cover the window on the sync grid.
    assert!(matches!(
        index.best_windows(&song, &WindowQuery { onsets: vec![1.0; 40], ..plain.clone() }),
        Err(IndexError::InvalidQuery(m)) if m.contains("onsets")
    ));
}

#[test]
fn windows_put_shot_changes_on_the_beat_without_giving_up_similarity() {
    let dir = tempfile::tempdir().expect("tempdir");
    // "steady": 20 s of equally good shots changing every 2 s at 1.3, 3.3, ... s.
    let cuts: Vec<f64> = (0..9).map(|i| 1.3 + 2.0 * f64::from(i)).collect();
    let mut bounds = vec![0.0];
    bounds.extend(&cuts);
    bounds.push(20.0);
    let steady: Vec<SegmentEntry> =
        bounds.windows(2).enumerate().map(|(i, b)| seg("steady", i as u32, b[0], b[1], [1.0, 0.0, 0.0])).collect();
    // "peak": one good stretch (4-10 s, a cut at 7 s) between poor shots.
    let peak = vec![
        seg("peak", 0, 0.0, 4.0, [0.0, 1.0, 0.0]),
        seg("peak", 1, 4.0, 7.0, [1.0, 0.0, 0.0]),
        seg("peak", 2, 7.0, 10.0, [1.0, 0.0, 0.0]),
        seg("peak", 3, 10.0, 14.0, [0.0, 1.0, 0.0]),
    ];
    let mut all = steady.clone();
    all.extend(peak.clone());
    let mut cat = catalogue(all);
    let mut v_steady = video("steady", 20.0, &steady.iter().collect::<Vec<_>>());
    v_steady.analysis.cuts = cuts.clone();
    let mut v_peak = video("peak", 14.0, &peak.iter().collect::<Vec<_>>());
    v_peak.analysis.cuts = vec![4.0, 7.0, 10.0];
    cat.videos = vec![v_steady, v_peak];
    Snapshot::publish(dir.path(), &cat).expect("publish");
    let index = Index::load_current(dir.path(), "test-v1").expect("load");
    let song = index.song("song1").expect("song").embedding.clone();
    // A 6 s song window with a beat every 0.5 s from its start.
    let beats: Vec<f64> = (0..12).map(|i| 0.5 * f64::from(i)).collect();
    let plain = WindowQuery {
        k: 2,
        duration_s: 6.0,
        filter: ClipFilter::default(),
        beats_s: Vec::new(),
        onsets: Vec::new(),
        onsets_unit: None,
    };
    let aware = WindowQuery { beats_s: beats.clone(), ..plain.clone() };
    let find = |q: &WindowQuery, v: &str| -> Window {
        let w = index.best_windows(&song, q).expect("windows");
        w.into_iter().find(|w| w.video.0 == v).expect("a window of the video")
    };

    // Chosen by similarity alone, "steady"'s window starts at 0 s: its shot changes
    // land 0.2 s off every beat.
    let w = find(&plain, "steady");
    assert_eq!(w.beat_fit, None);
    assert_eq!(BeatFit::of(&cuts, w.range.start_s, 6.0, &beats), BeatFit { cuts: 3, on_beat: 0 });
    // With the beats, the window moves so that all three fall on one, at no cost.
    let b = find(&aware, "steady");
    assert_eq!(b.beat_fit, Some(BeatFit { cuts: 3, on_beat: 3 }), "{b:?}");
    assert!((b.score - w.score).abs() < 1e-6);
    assert!(((b.range.start_s - 1.3) / 0.5 - ((b.range.start_s - 1.3) / 0.5).round()).abs() < 1e-6, "{b:?}");

    // "peak": putting its cut (3 s into the best window) on a beat would cost 0.25 s of
    // a poor shot, more than the slack: the best window stays, off the beat.
    let off = WindowQuery { beats_s: beats.iter().map(|b| b + 0.25).collect(), ..plain.clone() };
    let p = find(&off, "peak");
    assert_eq!(p.range, TimeRange::new(4.0, 10.0));
    assert_eq!(p.beat_fit, Some(BeatFit { cuts: 1, on_beat: 0 }));
    assert_eq!(find(&plain, "peak").range, p.range);
    // A cut exactly on a window's edge is not inside it; 60 ms off a beat is on it.
    assert_eq!(BeatFit::of(&[4.0, 7.06, 10.0], 4.0, 6.0, &[3.0]), BeatFit { cuts: 1, on_beat: 1 });
    assert_eq!(BeatFit::of(&[7.07], 4.0, 6.0, &[3.0]), BeatFit { cuts: 1, on_beat: 0 });
}
