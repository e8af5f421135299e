//! The request path: arbitrary bytes decoded as a MatchService / ReframeService request
//! (the first byte picks which) and answered by the engine over a synthetic catalogue.
//! Any panic is a bug; errors are the expected answer to garbage. Song and video ids of
//! one or two bytes are replaced by catalogued ones, so valid requests are reachable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::{Arc, OnceLock};
use tuneclip_server::{Cancel, Engine, ServerConfig, pb};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    songs: Vec<String>,
    videos: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let cat = tuneclip_index::synthetic::catalogue(2_000, 40, 50);
        let root = dir.path().join("snapshots");
        tuneclip_index::Snapshot::publish(&root, &cat).expect("publish");
        let index = tuneclip_index::Index::load_current(&root, tuneclip_index::synthetic::MODEL_VERSION).expect("load");
        let songs = index.catalogue.songs.iter().map(|s| s.id.0.clone()).collect();
        let videos = index.catalogue.videos.iter().map(|v| v.id.0.clone()).collect();
        let engine = Engine::new(index, ServerConfig::new(dir.path().join("renders")));
        Fixture { _dir: dir, engine, songs, videos }
    })
}

fn pick(id: &mut String, ids: &[String]) {
    if id.len() <= 2 {
        let n = id.bytes().map(usize::from).sum::<usize>();
        *id = ids[n % ids.len()].clone();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let f = fixture();
    let e = &f.engine;
    match which % 4 {
        0 => {
            if let Ok(mut r) = pb::BestClipsRequest::decode(body) {
                r.render = false;
                if let Some(pb::best_clips_request::Song::SongId(id)) = &mut r.song {
                    pick(id, &f.songs);
                }
                if let Ok(r) = tuneclip_server::ClipsRequest::try_from(r) {
                    let _ = e.best_clips(&r);
                }
            }
        }
        1 => {
            if let Ok(mut r) = pb::PlaylistClipsRequest::decode(body) {
                r.render = false;
                r.song_ids.truncate(20);
                for id in &mut r.song_ids {
                    pick(id, &f.songs);
                }
                if let Ok(r) = tuneclip_server::PlaylistRequest::try_from(r) {
                    let _ = e.playlist_clips_until(&r, &Cancel::default());
                }
            }
        }
        2 => {
            if let Ok(mut r) = pb::BestSongsRequest::decode(body) {
                pick(&mut r.video_id, &f.videos);
                if let Ok(q) = tuneclip_server::SongsQuery::try_from(&r) {
                    let _ = e.best_songs(&q);
                }
            }
        }
        _ => {
            if let Ok(mut r) = pb::ReframeRequest::decode(body) {
                pick(&mut r.video_id, &f.videos);
                if let Ok(t) = tuneclip_server::FrameTarget::try_from(&r) {
                    let _ = e.reframe(&t);
                }
            }
        }
    }
});
