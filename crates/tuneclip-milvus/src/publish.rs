//! Putting a snapshot's vectors into Milvus and serving from there.
//!
//! - [`upsert_snapshot`]: the rows of a snapshot (or of one shard of it, `--shard i/K`:
//!   the rows whose key is `i` modulo `K`) into a generation's collections, by key, in
//!   batches. Shards run anywhere, in any order, any number of times: a row is stored
//!   once.
//! - [`publish_generation`]: once every shard is in, check the generation holds exactly
//!   the snapshot's rows (and that its vectors find themselves), build the HNSW index,
//!   load it, then move the aliases to it and drop generations older than the one
//!   being replaced. Until the aliases move, queries see the previous generation
//!   whole; a publish that fails leaves them where they were.
//! - [`MilvusBackend`]: the [`VectorBackend`] the server loads snapshots with: it serves
//!   the collection the alias names, and refuses one that does not hold exactly the
//!   catalogue's rows.

use crate::client::{Column, ColumnData, MilvusClient, Rows};
use crate::generation::{CollectionKind, Generation, segment_key, song_key};
use crate::{MilvusError, MilvusIndex, Result};
use std::sync::Arc;
use std::time::Duration;
use tuneclip_ann::{VectorIndex, Vectors};
use tuneclip_index::{Catalogue, Index, Manifest, VectorBackend, VectorSet};

/// HNSW build parameters on the Milvus side (the embedded index's own).
pub const HNSW_M: usize = 16;
pub const HNSW_EF_CONSTRUCTION: usize = 200;

/// `i/K`: this process's share of the rows ([`Shard::owns`] by row key).
pub use tuneclip_core::Shard;

/// The row keys of a catalogue, in catalogue order.
pub fn keys(catalogue: &Catalogue, kind: CollectionKind) -> Vec<i64> {
    match kind {
        CollectionKind::Segments => catalogue.segments.iter().map(|s| segment_key(&s.video.0, s.ordinal)).collect(),
        CollectionKind::Songs => catalogue.songs.iter().map(|s| song_key(&s.id.0)).collect(),
    }
}

/// The rows `picked` (catalogue positions) of `kind`, keyed by `all_keys` (from [`keys`],
/// computed once per upsert, not per batch).
fn rows_of(catalogue: &Catalogue, kind: CollectionKind, all_keys: &[i64], picked: &[usize]) -> Rows {
    let dim = catalogue.dim;
    let model = catalogue.model_version.clone();
    let mut vectors = Vec::with_capacity(picked.len() * dim);
    let keys: Vec<i64> = picked.iter().map(|&i| all_keys[i]).collect();
    let columns = match kind {
        CollectionKind::Segments => {
            let logo: std::collections::HashSet<&str> =
                catalogue.videos.iter().filter(|v| !v.analysis.logos.is_empty()).map(|v| v.id.0.as_str()).collect();
            let segs: Vec<_> = picked.iter().map(|&i| &catalogue.segments[i]).collect();
            segs.iter().for_each(|s| vectors.extend_from_slice(&s.embedding));
            vec![
                Column {
                    name: "video".into(),
                    data: ColumnData::VarChar(segs.iter().map(|s| s.video.0.clone()).collect()),
                },
                Column {
                    name: "ordinal".into(),
                    data: ColumnData::Int64(segs.iter().map(|s| i64::from(s.ordinal)).collect()),
                },
                Column {
                    name: "duration_s".into(),
                    data: ColumnData::Float(segs.iter().map(|s| s.stats.range.duration_s() as f32).collect()),
                },
                Column { name: "blank".into(), data: ColumnData::Bool(segs.iter().map(|s| s.stats.blank).collect()) },
                Column {
                    name: "subtitled".into(),
                    data: ColumnData::Bool(segs.iter().map(|s| s.stats.subtitles.is_some()).collect()),
                },
                Column {
                    name: "logo".into(),
                    data: ColumnData::Bool(segs.iter().map(|s| logo.contains(s.video.0.as_str())).collect()),
                },
                Column { name: "model".into(), data: ColumnData::VarChar(vec![model; segs.len()]) },
            ]
        }
        CollectionKind::Songs => {
            let songs: Vec<_> = picked.iter().map(|&i| &catalogue.songs[i]).collect();
            songs.iter().for_each(|s| vectors.extend_from_slice(&s.embedding));
            vec![
                Column {
                    name: "song".into(),
                    data: ColumnData::VarChar(songs.iter().map(|s| s.id.0.clone()).collect()),
                },
                Column {
                    name: "duration_s".into(),
                    data: ColumnData::Float(songs.iter().map(|s| s.analysis.features.duration_s as f32).collect()),
                },
                Column { name: "model".into(), data: ColumnData::VarChar(vec![model; songs.len()]) },
            ]
        }
    };
    Rows { keys, dim, vectors, columns }
}

/// Rows upserted per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upserted {
    pub segments: u64,
    pub songs: u64,
}

/// Upsert `shard`'s rows of `catalogue` into `generation`, `batch` rows per call;
/// `progress(done, total)` after each batch.
pub async fn upsert_snapshot(
    client: &MilvusClient,
    catalogue: &Catalogue,
    generation: &Generation,
    shard: Shard,
    batch: usize,
    progress: &dyn Fn(u64, u64),
) -> Result<Upserted> {
    let mut done = Upserted::default();
    let plan: Vec<(CollectionKind, Vec<i64>, Vec<usize>)> = [CollectionKind::Segments, CollectionKind::Songs]
        .into_iter()
        .map(|kind| {
            let all = keys(catalogue, kind);
            let picked = all.iter().enumerate().filter(|(_, k)| shard.owns(**k)).map(|(i, _)| i).collect();
            (kind, all, picked)
        })
        .collect();
    let total: u64 = plan.iter().map(|(_, _, p)| p.len() as u64).sum();
    let mut sent = 0u64;
    for (kind, all, picked) in plan {
        let collection = generation.collection(kind);
        client.ensure_collection(&collection, catalogue.dim, kind.scalars()).await?;
        for chunk in picked.chunks(batch.max(1)) {
            client.upsert(&collection, &rows_of(catalogue, kind, &all, chunk)).await?;
            sent += chunk.len() as u64;
            progress(sent, total);
        }
        match kind {
            CollectionKind::Segments => done.segments = picked.len() as u64,
            CollectionKind::Songs => done.songs = picked.len() as u64,
        }
    }
    Ok(done)
}

/// Make `generation` the one queries see, after checking it holds exactly
/// `catalogue`'s rows. Generations of `prefix` other than this one and the one it
/// replaces are dropped afterwards.
pub async fn publish_generation(
    client: &MilvusClient,
    catalogue: &Catalogue,
    generation: &Generation,
    wait: Duration,
) -> Result<()> {
    let mut previous = Vec::new();
    for kind in [CollectionKind::Segments, CollectionKind::Songs] {
        let collection = generation.collection(kind);
        let all = keys(catalogue, kind);
        let expected = all.len() as u64;
        if !client.has_collection(&collection).await? {
            return Err(MilvusError::Invalid(format!(
                "generation {} has no {collection} collection: upsert every shard first",
                generation.name
            )));
        }
        client.flush(&collection).await?;
        client.ensure_hnsw_index(&collection, HNSW_M, HNSW_EF_CONSTRUCTION).await?;
        client.load(&collection, wait).await?;
        let mut strong = client.clone();
        strong.consistency = crate::pb::common::ConsistencyLevel::Strong;
        let stored = strong.count(&collection, "").await?;
        if stored != expected {
            return Err(MilvusError::Invalid(format!(
                "{collection} holds {stored} rows, the snapshot {expected}: a shard is missing or a key collides; nothing was published"
            )));
        }
        // Every row indexed before anyone is sent here (loaded segments switch to the
        // index as it is built).
        client.wait_indexed(&collection, expected, wait).await?;
        // Spot check: a few stored vectors find their own rows first.
        let step = (all.len() / 8).max(1);
        for i in (0..all.len()).step_by(step).take(8) {
            let v: &[f32] = match kind {
                CollectionKind::Segments => &catalogue.segments[i].embedding,
                CollectionKind::Songs => &catalogue.songs[i].embedding,
            };
            let found = strong.search(&collection, &[v], 10, 64, "").await?;
            if !found.first().is_some_and(|hits| hits.iter().any(|(k, _)| *k == all[i])) {
                return Err(MilvusError::Invalid(format!(
                    "{collection}: row {} is not found by its own vector; nothing was published",
                    all[i]
                )));
            }
        }
        previous.push((kind, client.alias_target(&Generation::alias(&generation.prefix, kind)).await?));
    }
    for (kind, _) in &previous {
        client.point_alias(&Generation::alias(&generation.prefix, *kind), &generation.collection(*kind)).await?;
    }
    // Keep this generation and the one it replaced (servers still on it until Reload).
    for name in client.list_collections().await? {
        for (kind, replaced) in &previous {
            if Generation::of_collection(&generation.prefix, *kind, &name).is_some()
                && name != generation.collection(*kind)
                && Some(&name) != replaced.as_ref()
            {
                client.drop_collection(&name).await?;
            }
        }
    }
    Ok(())
}

/// The server's vectors in Milvus: the published generation (what the alias names).
#[derive(Debug, Clone)]
pub struct MilvusBackend {
    pub addr: String,
    pub prefix: String,
    pub timeout: Duration,
}

impl VectorBackend for MilvusBackend {
    fn open(
        &self,
        _manifest: &Manifest,
        catalogue: &Catalogue,
        set: VectorSet,
        vectors: Arc<Vectors>,
    ) -> std::result::Result<Box<dyn VectorIndex>, tuneclip_index::BackendError> {
        let kind = match set {
            VectorSet::Segments => CollectionKind::Segments,
            VectorSet::Songs => CollectionKind::Songs,
        };
        let alias = Generation::alias(&self.prefix, kind);
        // Resolve the alias once: this catalogue is answered by that generation even
        // after a later publish moves the alias (until the server reloads). From a
        // thread of its own, so any caller (async or not) may load.
        let target = std::thread::scope(|s| {
            s.spawn(|| {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(MilvusError::Runtime)?;
                rt.block_on(async {
                    let client = MilvusClient::connect(&self.addr, self.timeout).await?;
                    client.alias_target(&alias).await
                })
            })
            .join()
            .unwrap_or_else(|_| Err(MilvusError::Invalid("the connecting thread panicked".into())))
        })?
        .ok_or_else(|| MilvusError::NotPublished { addr: self.addr.clone(), alias: alias.clone() })?;
        let index = MilvusIndex::open(&self.addr, &target, vectors, keys(catalogue, kind), self.timeout)?;
        Ok(Box::new(index))
    }
}

/// One call: upsert the whole catalogue into `generation` and publish it.
pub async fn publish_index(
    client: &MilvusClient,
    index: &Index,
    generation: &Generation,
    wait: Duration,
) -> Result<Upserted> {
    let n = upsert_snapshot(client, &index.catalogue, generation, Shard::all(), 2000, &|_, _| {}).await?;
    publish_generation(client, &index.catalogue, generation, wait).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_every_key_once() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1/0", "x", "1/"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        for key in [-7i64, 0, 1, 5, 1 << 40, i64::MAX] {
            assert_eq!(shards.iter().filter(|s| s.owns(key)).count(), 1, "{key}");
        }
    }
}
