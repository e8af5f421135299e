//! `tuneclip milvus upsert|publish|status`: the current snapshot's vectors into a
//! Milvus generation, shard by shard, then published in one step.

use crate::{MilvusAction, MilvusArgs, snapshots_dir};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::Duration;
use tuneclip_index::Index;
use tuneclip_milvus::generation::{CollectionKind, Generation};
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
    }
    Ok(())
}
