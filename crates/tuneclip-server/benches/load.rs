//! Load benchmark: the real gRPC server on loopback, a synthetic catalogue, BestClips
//! (k clips with crop plans, no rendering) under an open-loop load paced at a fixed rate
//! and then at saturation. Bounded in count and time; loopback only.
//!
//! `cargo bench -p tuneclip-server --bench load` (add `--profile dev` to reuse the test
//! build). Environment: `TUNECLIP_LOAD_SEGMENTS` (1,000,000), `TUNECLIP_LOAD_RATE`
//! (1,000 q/s), `TUNECLIP_LOAD_SECONDS` (10 per phase), `TUNECLIP_LOAD_CONCURRENCY`
//! (32 callers at saturation), `TUNECLIP_LOAD_K` (5), `TUNECLIP_LOAD_CLIP_S` (3 s clips),
//! `TUNECLIP_LOAD_ROOT` (a directory where the snapshot is kept and reused by later runs
//! of the same size; default: a temporary one), `TUNECLIP_LOAD_SYNC` (1: songs and videos
//! carry sync envelopes, so clips are placed and ranked in sync as on real media; 0:
//! without, similarity alone), `TUNECLIP_LOAD_MILVUS` (1: the segments and songs are
//! searched in a real Milvus 2.3.5 from set-up's binaries on 127.0.0.1, the snapshot
//! published into it as `tuneclip milvus publish` does, the server's vector backend
//! `MilvusBackend`; 0: the snapshot's own HNSW graph).
//!
//! Latency of the paced phase is measured from each request's scheduled send time, so a
//! stalled server cannot hide its queue (no coordinated omission). The load generator
//! shares the machine (and its cores) with the server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tuneclip_index::synthetic::{MODEL_VERSION, catalogue};
use tuneclip_index::{Index, PublishOptions, Snapshot};
use tuneclip_server::{Engine, MatchServiceClient, ServerConfig, pb};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: std::collections::BTreeMap<String, usize>,
    /// The first message seen for each error code.
    first: std::collections::BTreeMap<String, String>,
    /// Paced phase: (second of the schedule, latency) of every request.
    by_second: Vec<(usize, Duration)>,
}

impl Tally {
    fn record(&mut self, latency: Duration, result: Result<(), tonic::Status>) {
        match result {
            Ok(()) => self.latencies.push(latency),
            Err(status) => {
                let code = format!("{:?}", status.code());
                self.first.entry(code.clone()).or_insert_with(|| status.message().to_string());
                *self.errors.entry(code).or_default() += 1;
            }
        }
    }

    fn line(&mut self, label: &str, seconds: f64) -> String {
        self.latencies.sort();
        let pct = |p: f64| -> f64 {
            if self.latencies.is_empty() {
                return f64::NAN;
            }
            let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
            self.latencies[i].as_secs_f64() * 1e3
        };
        let errors: usize = self.errors.values().sum();
        format!(
            "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {errors} {:?} |",
            self.latencies.len() as f64 / seconds,
            pct(0.50),
            pct(0.95),
            pct(0.99),
            pct(1.0),
            self.errors
        )
    }
}

fn request(songs: &[String], i: usize, k: u32) -> pb::BestClipsRequest {
    let clip_duration_s = std::env::var("TUNECLIP_LOAD_CLIP_S").ok().and_then(|v| v.parse().ok()).unwrap_or(3.0);
    pb::BestClipsRequest {
        k: Some(k),
        clip_duration_s: Some(clip_duration_s),
        ..pb::BestClipsRequest::catalogue_song(songs[i % songs.len()].clone())
    }
}

#[tokio::main]
async fn main() {
    let segments = env_usize("TUNECLIP_LOAD_SEGMENTS", 1_000_000);
    let rate = env_usize("TUNECLIP_LOAD_RATE", 1000).max(1);
    let seconds = env_usize("TUNECLIP_LOAD_SECONDS", 10).max(1);
    let concurrency = env_usize("TUNECLIP_LOAD_CONCURRENCY", 32).max(1);
    let k = env_usize("TUNECLIP_LOAD_K", 5) as u32;
    let sync = env_usize("TUNECLIP_LOAD_SYNC", 1) != 0;
    let milvus = env_usize("TUNECLIP_LOAD_MILVUS", 0) != 0;

    let t = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    // A kept snapshot of the same size is reused (a 1M-segment graph takes ~20 minutes).
    let root = std::env::var_os("TUNECLIP_LOAD_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("snapshots"));
    let reuse = Index::load_current(&root, MODEL_VERSION).ok().filter(|i| {
        i.manifest.segments == segments && i.catalogue.songs.first().is_some_and(|s| s.onsets.is_empty() != sync)
    });
    let index = match reuse {
        Some(index) => {
            println!("reusing the snapshot under {}", root.display());
            index
        }
        None => {
            let mut cat = catalogue(segments, 40, 10_000);
            if !sync {
                // As a catalogue made before sync envelopes were kept: similarity alone.
                cat.videos.iter_mut().for_each(|v| v.analysis.events = Default::default());
                cat.songs.iter_mut().for_each(|s| s.onsets = Default::default());
            }
            let opts = PublishOptions { progress: true, ..PublishOptions::default() };
            Snapshot::publish_with(&root, &cat, &opts).expect("publish");
            drop(cat);
            Index::load_current(&root, MODEL_VERSION).expect("load")
        }
    };
    // Milvus mode: the snapshot's vectors published into a local Milvus, searched there.
    let mut _milvus_server = None;
    let index = if milvus {
        let t = Instant::now();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data");
        let install = tuneclip_milvus::server::MilvusServer::install_dir(&data);
        let server = tuneclip_milvus::server::MilvusServer::start(
            &install,
            &tmp.path().join("milvus"),
            Duration::from_secs(180),
        )
        .expect("Milvus (run setup.sh)");
        let client =
            tuneclip_milvus::MilvusClient::connect(&server.addr, Duration::from_secs(120)).await.expect("connect");
        let generation = tuneclip_milvus::Generation::new("load", "g1").expect("generation");
        tuneclip_milvus::publish::publish_index(&client, &index, &generation, Duration::from_secs(3600))
            .await
            .expect("publish into Milvus");
        let backend = tuneclip_milvus::MilvusBackend {
            addr: server.addr.clone(),
            prefix: "load".into(),
            timeout: Duration::from_secs(10),
        };
        println!("published into Milvus at {} in {:.0} s", server.addr, t.elapsed().as_secs_f64());
        _milvus_server = Some(server);
        let root = root.clone();
        drop(index);
        tokio::task::spawn_blocking(move || Index::load_current_with(&root, MODEL_VERSION, Some(&backend)))
            .await
            .expect("join")
            .expect("the index on Milvus")
    } else {
        index
    };
    let songs: Vec<String> = index.catalogue.songs.iter().map(|s| s.id.0.clone()).collect();
    let rss_mb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0);
    println!(
        "catalogue of {segments} segments ready in {:.0} s ({} search), process RSS {rss_mb:.0} MB",
        t.elapsed().as_secs_f64(),
        index.segment_search_kind()
    );
    let config = ServerConfig { max_concurrent_requests: 4096, ..ServerConfig::new(tmp.path().join("renders")) };
    let engine = Engine::new(index, config);
    let (listener, addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
        let _ = stopped.await;
    }));
    let client = MatchServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let songs = Arc::new(songs);
    // Warm up (page cache, connections).
    for i in 0..200 {
        let _ = client.clone().best_clips(request(&songs, i, k)).await;
    }

    println!("\n| load | answered q/s | p50 ms | p95 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    // Open loop at `rate` for `seconds`.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(scheduled).await;
        let (mut c, songs, tally) = (client.clone(), Arc::clone(&songs), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            let result = c.best_clips(request(&songs, i, k)).await.map(|_| ());
            let latency = scheduled.elapsed();
            let mut tally = tally.lock().expect("tally");
            tally.by_second.push((i / rate, latency));
            tally.record(latency, result);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{}", tally.lock().expect("tally").line(&format!("paced {rate} q/s"), elapsed));
    for (code, message) in &tally.lock().expect("tally").first {
        println!("first {code}: {message}");
    }
    // Where the slow requests were: each second's p99 and worst, when its p99 > 10 ms.
    let mut per_second: std::collections::BTreeMap<usize, Vec<Duration>> = std::collections::BTreeMap::new();
    for (second, latency) in &tally.lock().expect("tally").by_second {
        per_second.entry(*second).or_default().push(*latency);
    }
    for (second, mut l) in per_second {
        l.sort();
        let p99 = l[(l.len() * 99).div_ceil(100).clamp(1, l.len()) - 1];
        if p99 > Duration::from_millis(10) {
            println!(
                "second {second}: p99 {:.1} ms, worst {:.1} ms",
                p99.as_secs_f64() * 1e3,
                l[l.len() - 1].as_secs_f64() * 1e3
            );
        }
    }

    // Closed loop: `concurrency` callers back to back for `seconds`.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let start = Instant::now();
    let callers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (mut c, songs, tally) = (client.clone(), Arc::clone(&songs), Arc::clone(&tally));
            tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let result = c.best_clips(request(&songs, i, k)).await.map(|_| ());
                    tally.lock().expect("tally").record(t.elapsed(), result);
                    i += concurrency;
                }
            })
        })
        .collect();
    for c in callers {
        let _ = c.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{}", tally.lock().expect("tally").line(&format!("saturation, {concurrency} callers"), elapsed));
    for (code, message) in &tally.lock().expect("tally").first {
        println!("first {code}: {message}");
    }
    let _ = stop.send(());
    let _ = server.await;
}
