//! `tuneclip milvus upsert|publish|status`: the current snapshot's vectors into a
//! Milvus generation, shard by shard, then published in one step; `tuneclip milvus
//! local`: a Milvus on this machine to try it with.

use crate::{MilvusAction, MilvusArgs, snapshots_dir};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::Duration;
use tuneclip_index::Index;
use tuneclip_milvus::generation::{CollectionKind, Generation};
use tuneclip_milvus::server::MilvusServer;
use tuneclip_milvus::{MilvusClient, Shard, publish_generation, upsert_snapshot};
use tuneclip_model::Embedder;

pub(crate) async fn run(
    data: &Path,
    model: &Embedder,
    action: MilvusAction,
    args: &MilvusArgs,
    generation: Option<String>,
    shard: Shard,
    batch: usize,
) -> Result<()> {
    let client = MilvusClient::connect(&args.milvus_addr, Duration::from_secs(30)).await?;
    if action == MilvusAction::Status {
        let (healthy, reasons) = client.health().await?;
        println!("Milvus {}: {}", args.milvus_addr, if healthy { "healthy".to_string() } else { reasons.join("; ") });
        for kind in [CollectionKind::Segments, CollectionKind::Songs] {
            let alias = Generation::alias(&args.milvus_prefix, kind);
            match client.alias_target(&alias).await? {
                Some(c) => println!("{alias} -> {c} ({} rows)", client.count(&c, "").await.unwrap_or(0)),
                None => println!("{alias}: nothing published"),
            }
        }
        return Ok(());
    }
    let root = snapshots_dir(data);
    let version = model.version();
    let index = tokio::task::spawn_blocking(move || Index::load_current(&root, &version)).await??;
    let name = generation.unwrap_or_else(|| index.manifest.name.clone());
    let generation = Generation::new(&args.milvus_prefix, &name)?;
    match action {
        MilvusAction::Upsert => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("upsert {bar:30} {pos}/{len} rows {elapsed}")
                    .context("progress style")?,
            );
            let n = upsert_snapshot(&client, &index.catalogue, &generation, shard, batch, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "shard {}/{}: {} segments and {} songs upserted into generation {} (publish once every shard is in)",
                shard.index, shard.count, n.segments, n.songs, generation.name
            );
        }
        MilvusAction::Publish => {
            if shard != Shard::all() {
                bail!("publish takes no --shard: it publishes the whole generation");
            }
            publish_generation(&client, &index.catalogue, &generation, Duration::from_secs(600)).await?;
            println!(
                "published generation {} ({} segments, {} songs); servers started with --vectors milvus serve it after Reload",
                generation.name,
                index.catalogue.segments.len(),
                index.catalogue.songs.len()
            );
        }
        MilvusAction::Status => unreachable!("answered above"),
        MilvusAction::Local => bail!("milvus local runs a server; it is not an action on one"),
    }
    Ok(())
}

/// `tuneclip milvus local --data DIR`: Milvus 2.3.5 standalone from the set-up's
/// binaries (`install`: `milvus/` in the models folder), every port on 127.0.0.1, the proxy at
/// --milvus-addr's port, its state in `data` (a second run finds the collections of the
/// first); Ctrl-C (or SIGTERM) stops it cleanly.
pub(crate) async fn local(install: &Path, data: &Path, args: &MilvusArgs) -> Result<()> {
    let addr: std::net::SocketAddr = args
        .milvus_addr
        .parse()
        .with_context(|| format!("--milvus-addr {:?}: expected 127.0.0.1:PORT", args.milvus_addr))?;
    if !addr.ip().is_loopback() {
        bail!("--milvus-addr {addr}: a local Milvus listens on loopback only (127.0.0.1:PORT)");
    }
    let install = std::path::absolute(install).with_context(|| format!("{}", install.display()))?;
    if !install.join("bin/milvus").is_file() {
        bail!(
            "no Milvus at {} (run setup.sh, or point --models-dir / TUNECLIP_MODELS at the folder it filled)",
            install.display()
        );
    }
    let data = data.to_path_buf();
    eprintln!("starting Milvus 2.3.5 from {} (state in {}; up to 3 minutes) ...", install.display(), data.display());
    let mut server = tokio::task::spawn_blocking(move || {
        MilvusServer::start_on(&install, &data, Some(addr.port()), Duration::from_secs(180))
    })
    .await??;
    println!("Milvus on {} (health http://{}/healthz); Ctrl-C stops it", server.addr, server.health_addr);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let why = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break "Ctrl-C",
            _ = term.recv() => break "SIGTERM",
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(status) = server.exited() {
                    bail!("Milvus exited on its own ({status}); its logs are in {}/logs", server.data_dir.display());
                }
            }
        }
    };
    eprintln!("{why}: stopping Milvus ...");
    let clean = tokio::task::spawn_blocking(move || server.shutdown(Duration::from_secs(30))).await?;
    if clean {
        eprintln!("Milvus stopped");
        Ok(())
    } else {
        bail!("Milvus did not stop within 30 s of SIGTERM and was killed")
    }
}
