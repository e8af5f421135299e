//! The review loop in a real browser: a production of background clips, the review
//! page served beside the gRPC server, headless Chromium (driven through ChromeDriver)
//! approving one clip and rejecting another, and the decisions checked where they take
//! effect: the SQLite store (reopened, as after a restart) and the gRPC answers.

use crate::{make_song, make_video, shot};
use fantoccini::{ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tuneclip_core::TimeRange;
use tuneclip_index::{Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};
use tuneclip_server::{Engine, MatchServiceClient, ServerConfig, pb};
use tuneclip_studio::{ProduceConfig, ProducedClip, QualityThresholds, ReviewPage, ReviewStore, Verdict, produce};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// ChromeDriver on a free loopback port, killed when dropped.
struct Driver {
    child: std::process::Child,
    port: u16,
}

impl Driver {
    async fn start() -> Self {
        for exe in [CHROMIUM, CHROMEDRIVER] {
            assert!(Path::new(exe).is_file(), "{exe} missing: run ./setup.sh (Debian chromium, chromium-driver)");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = std::process::Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Self { child, port };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1800",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

fn overlaps(video: &str, range: TimeRange, clip: &pb::RankedClip) -> bool {
    let r = clip.range.expect("range");
    clip.video_id == video && r.end_s.min(range.end_s) - r.start_s.max(range.start_s) > 1e-3
}

/// Every clip BestClips can give for a song (short clips, no per-video limit).
async fn all_clips(client: &mut MatchServiceClient<tonic::transport::Channel>, song: &str) -> Vec<pb::RankedClip> {
    let req = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::SongId(song.into())),
        k: Some(50),
        clip_duration_s: Some(1.0),
        max_per_video: Some(0),
        ..Default::default()
    };
    client.best_clips(req).await.expect("BestClips").into_inner().clips
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../index-data")
}

/// Where the screenshots go: `target/review-screenshots/` (kept for the issue notes).
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/review-screenshots");
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_in_chromium_approves_and_rejects_and_grpc_follows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // Two songs of different character, three videos of several shots.
    let songs = [dir.join("slow.ogg"), dir.join("fast.ogg")];
    make_song(&songs[0], 70.0, 10.0, 45.0).expect("song");
    make_song(&songs[1], 160.0, 10.0, 110.0).expect("song");
    let videos = [dir.join("bars.mp4"), dir.join("fractal.mp4"), dir.join("life.mp4")];
    make_video(
        &videos[0],
        640,
        360,
        &[shot("testsrc2=size=640x360:rate=25", 3.0), shot("smptehdbars=size=640x360:rate=25", 3.0)],
        None,
    )
    .expect("video");
    make_video(&videos[1], 640, 360, &[shot("mandelbrot=size=640x360:rate=25", 6.0)], None).expect("video");
    make_video(
        &videos[2],
        640,
        360,
        &[shot("life=size=160x90:rate=25:mold=10:ratio=0.5:seed=7", 3.0), shot("rgbtestsrc=size=640x360:rate=25", 3.0)],
        None,
    )
    .expect("video");
    let catalogue = ingest(&songs, &videos, &IngestConfig { progress: false, ..IngestConfig::default() });
    assert!(catalogue.failures.is_empty(), "{:?}", catalogue.failures);
    let root = dir.join("snapshots");
    Snapshot::publish(&root, &catalogue).expect("publish");
    let index = Index::load_current(&root, tuneclip_model::MODEL_VERSION).expect("load");

    // Produce a 4 s background clip per song.
    let production = dir.join("production");
    let db = dir.join("review.sqlite");
    let store = Arc::new(ReviewStore::open(&db).expect("store"));
    let cfg = ProduceConfig {
        clip_s: 4.0,
        candidates: 2,
        workers: 1,
        thresholds: QualityThresholds { max_upscale: 6.0, ..QualityThresholds::default() },
        text: Some(tuneclip_vision::TextDetectorConfig::from_data_dir(&data_dir())).filter(|c| c.model.is_file()),
        progress: false,
        ..ProduceConfig::new(production.clone())
    };
    let manifest = produce(&index, &[], &cfg, Some(&store)).expect("produce");
    assert_eq!(manifest.clips.len(), 2, "{:?}", manifest.failures);
    let by_song = |path: &Path| -> ProducedClip {
        manifest.clips.iter().find(|c| c.song_path == path).cloned().expect("a clip for each song")
    };
    // The fast song was produced second, off the shots the slow one took: its clip is
    // not what BestClips ranks first for it, so approving it visibly changes the answer.
    let (reject, approve) = (by_song(&songs[0]), by_song(&songs[1]));
    // One production never puts two songs on the same shots.
    assert!(
        approve.video_id != reject.video_id || approve.segments.iter().all(|s| !reject.segments.contains(s)),
        "{approve:#?} {reject:#?}"
    );

    // The gRPC server and the review page, both on loopback, sharing the store.
    let decisions: Arc<dyn tuneclip_index::ReviewDecisions> = Arc::clone(&store) as _;
    let config = ServerConfig { review: Some(decisions), ..ServerConfig::new(dir.join("renders")) };
    let engine = Engine::new(index, config);
    let (listener, grpc_addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
        let _ = stopped.await;
    }));
    let page = Arc::new(ReviewPage::new(Arc::clone(&store), vec![production.clone()], None).expect("page"));
    let (page_listener, page_addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let (stop_page, page_stopped) = tokio::sync::oneshot::channel::<()>();
    let page_server = tokio::spawn(tuneclip_studio::serve_review(page_listener, page, async {
        let _ = page_stopped.await;
    }));
    let mut grpc = MatchServiceClient::connect(format!("http://{grpc_addr}")).await.expect("connect");
    let before_reject = all_clips(&mut grpc, &reject.song_id).await;
    let top_client = grpc.clone();
    let top_for = |song: String| {
        let mut grpc = top_client.clone();
        async move {
            let req = pb::BestClipsRequest {
                song: Some(pb::best_clips_request::Song::SongId(song)),
                k: Some(1),
                clip_duration_s: Some(1.0),
                ..Default::default()
            };
            grpc.best_clips(req).await.expect("BestClips").into_inner().clips.remove(0)
        }
    };
    let top = top_for(approve.song_id.clone()).await;
    assert!(!overlaps(&approve.video_id, approve.range, &top), "the clip to approve already leads: {top:?}");
    assert!(
        before_reject.iter().any(|c| overlaps(&reject.video_id, reject.range, c)),
        "before the review, BestClips serves the segments under the clip to be rejected"
    );

    // The reviewer, in Chromium.
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().expect("profile");
    let b = browser(&driver, profile.path()).await;
    let url = format!("http://{page_addr}/");
    b.goto(&url).await.expect("open the page");
    let shots = screenshot_dir();
    std::fs::write(shots.join("review-before.png"), b.screenshot().await.expect("screenshot")).expect("save");
    assert_eq!(b.find_all(Locator::Css("article.clip")).await.expect("clips").len(), 2);
    let video = b
        .find(Locator::Css(&format!("article[data-clip='{}'] video", approve.clip_id)))
        .await
        .expect("a player for the clip");
    assert_eq!(video.attr("src").await.expect("src"), Some(format!("/media/0/{}", approve.file)));
    // The player really gets the MP4 from the page's server.
    let ready: serde_json::Value = b
        .execute_async(
            "const [sel, done] = arguments; const v = document.querySelector(sel);\
             if (v.readyState >= 1) { done(v.duration); } else {\
             v.addEventListener('loadedmetadata', () => done(v.duration));\
             v.addEventListener('error', () => done(-1)); v.load(); }",
            vec![serde_json::json!(format!("article[data-clip='{}'] video", approve.clip_id))],
        )
        .await
        .expect("video metadata");
    let duration = ready.as_f64().expect("a duration");
    assert!((duration - 4.0).abs() < 0.2, "the browser decoded a {duration} s clip");

    b.find(Locator::Css(&format!("article[data-clip='{}'] button.approve", approve.clip_id)))
        .await
        .expect("approve button")
        .click()
        .await
        .expect("click approve");
    b.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("article[data-clip='{}'][data-decision='approved']", approve.clip_id)))
        .await
        .expect("the page shows the approval");
    let top = top_for(approve.song_id.clone()).await;
    assert!(overlaps(&approve.video_id, approve.range, &top), "the approved clip does not lead: {top:?}");
    b.find(Locator::Css(&format!("article[data-clip='{}'] input[name='reason']", reject.clip_id)))
        .await
        .expect("reason field")
        .send_keys("wrong mood <for> this song")
        .await
        .expect("type a reason");
    b.find(Locator::Css(&format!("article[data-clip='{}'] button.reject", reject.clip_id)))
        .await
        .expect("reject button")
        .click()
        .await
        .expect("click reject");
    b.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("article[data-clip='{}'][data-decision='rejected']", reject.clip_id)))
        .await
        .expect("the page shows the rejection");
    let shown = b
        .find(Locator::Css(&format!("article[data-clip='{}'] .decision", reject.clip_id)))
        .await
        .expect("decision line")
        .text()
        .await
        .expect("text");
    assert_eq!(shown, "rejected: wrong mood <for> this song", "the reason is shown as text, escaped");
    std::fs::write(shots.join("review-after.png"), b.screenshot().await.expect("screenshot")).expect("save");
    b.close().await.expect("close the browser");
    drop(driver);

    // Stored durably: a fresh connection to the database (as after a restart) sees both.
    let reopened = ReviewStore::open(&db).expect("reopen");
    let d = reopened.decision(&approve.clip_id).expect("approval stored");
    assert_eq!((d.verdict, d.clip.song_id.as_str()), (Verdict::Approved, approve.song_id.as_str()));
    let d = reopened.decision(&reject.clip_id).expect("rejection stored");
    assert_eq!((d.verdict, d.reason.as_str()), (Verdict::Rejected, "wrong mood <for> this song"));
    // Exported as hard negatives in the form the training crate reads.
    let exported = dir.join("rejected.jsonl");
    assert_eq!(reopened.export_hard_negatives(&exported).expect("export"), 1);
    let negatives = tuneclip_training::manifest::read_hard_negatives(&exported).expect("training reads the export");
    assert_eq!(negatives.len(), 1);
    let n = &negatives[0];
    assert_eq!(
        (n.song_path.as_path(), n.video_path.as_path()),
        (reject.song_path.as_path(), reject.video_path.as_path())
    );
    assert_eq!(
        (n.song_start_s, n.start_s, n.end_s),
        (reject.song_window.start_s, reject.range.start_s, reject.range.end_s)
    );

    // The gRPC answers follow: the rejected clip's segments are gone for every song...
    for song in [&reject.song_id, &approve.song_id] {
        let after = all_clips(&mut grpc, song).await;
        assert!(!after.iter().any(|c| overlaps(&reject.video_id, reject.range, c)), "rejected segments served");
    }
    assert!(all_clips(&mut grpc, &reject.song_id).await.len() < before_reject.len());
    // ...and the approved clip still leads its song's answer.
    let top = top_for(approve.song_id.clone()).await;
    assert!(overlaps(&approve.video_id, approve.range, &top), "the approved clip does not lead: {top:?}");

    let _ = stop.send(());
    let _ = stop_page.send(());
    server.await.expect("join").expect("clean shutdown");
    page_server.await.expect("join").expect("page shutdown");
}
