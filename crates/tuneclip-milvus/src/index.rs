//! [`MilvusIndex`]: a [`VectorIndex`] answered by a Milvus collection.

use crate::client::MilvusClient;
use crate::{MilvusError, Result};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tuneclip_ann::{Hit, VectorIndex, Vectors, scan};

/// The vectors of one generation collection, searched by Milvus (its HNSW index). Row
/// `i` of `vectors` is stored under `keys[i]`; answers come back as row numbers.
///
/// The trait's search cannot fail: when Milvus does not answer, the search falls back
/// to an exact scan of the local vectors (same results, slower), logs it, and counts it
/// in [`MilvusIndex::fallbacks`], which the server's health reports.
pub struct MilvusIndex {
    /// The client's own runtime (searches come from blocking threads); `None` only
    /// while dropping.
    rt: Option<tokio::runtime::Runtime>,
    client: MilvusClient,
    collection: String,
    vectors: Arc<Vectors>,
    row_of: HashMap<i64, u32>,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for MilvusIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusIndex")
            .field("addr", &self.client.addr())
            .field("collection", &self.collection)
            .field("rows", &self.vectors.len())
            .finish_non_exhaustive()
    }
}

impl MilvusIndex {
    /// Bind to `collection` on the Milvus at `addr`: it must exist, be loaded, hold
    /// vectors of the same size and exactly `keys.len()` rows.
    /// Works from any thread, async or not (it connects from a thread of its own).
    pub fn open(
        addr: &str,
        collection: &str,
        vectors: Arc<Vectors>,
        keys: Vec<i64>,
        timeout: Duration,
    ) -> Result<Self> {
        std::thread::scope(|s| {
            s.spawn(|| Self::open_here(addr, collection, vectors, keys, timeout))
                .join()
                .unwrap_or_else(|_| Err(MilvusError::Server("the connecting thread panicked".into())))
        })
    }

    fn open_here(
        addr: &str,
        collection: &str,
        vectors: Arc<Vectors>,
        keys: Vec<i64>,
        timeout: Duration,
    ) -> Result<Self> {
        if keys.len() != vectors.len() {
            return Err(MilvusError::Invalid(format!("{} keys for {} vectors", keys.len(), vectors.len())));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("milvus-client")
            .enable_all()
            .build()
            .map_err(|e| MilvusError::Server(format!("client runtime: {e}")))?;
        let client = rt.block_on(MilvusClient::connect(addr, timeout))?;
        let (_, dim) = rt.block_on(client.describe(collection))?;
        if dim != vectors.dim() {
            return Err(MilvusError::Invalid(format!(
                "collection {collection:?} holds {dim}-dimensional vectors; the catalogue's are {}",
                vectors.dim()
            )));
        }
        rt.block_on(client.load(collection, timeout.max(Duration::from_secs(60))))?;
        let stored = rt.block_on(client.count(collection, ""))?;
        if stored != keys.len() as u64 {
            return Err(MilvusError::Invalid(format!(
                "collection {collection:?} holds {stored} rows; the catalogue has {} (publish it again)",
                keys.len()
            )));
        }
        let row_of = keys.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect::<HashMap<_, _>>();
        if row_of.len() != keys.len() {
            return Err(MilvusError::Invalid("two catalogue rows share a key".into()));
        }
        Ok(Self { rt: Some(rt), client, collection: collection.into(), vectors, row_of, fallbacks: AtomicU64::new(0) })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Searches answered by the local exact scan because Milvus failed.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("present until dropped")
    }

    /// Run a client call to completion from any thread: directly, or from a scoped
    /// thread when the caller is inside an async runtime (where blocking would panic).
    fn block<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let rt = self.runtime();
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| rt.block_on(fut)).join().expect("the Milvus client thread panicked"))
        } else {
            rt.block_on(fut)
        }
    }

    /// Milvus's own health check.
    pub fn milvus_health(&self) -> Result<(bool, Vec<String>)> {
        self.block(self.client.health())
    }

    /// The `k` nearest rows among those matching a Milvus filter expression.
    pub fn search_where(&self, query: &[f32], k: usize, ef: usize, filter: &str) -> Result<Vec<Hit>> {
        let found = self.block(self.client.search(&self.collection, &[query], k, ef, filter))?;
        let mut hits: Vec<Hit> = found
            .into_iter()
            .flatten()
            .filter_map(|(key, score)| self.row_of.get(&key).map(|&id| Hit { id, score }))
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(hits)
    }
}

impl Drop for MilvusIndex {
    fn drop(&mut self) {
        // The last reference may go inside an async task: never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl VectorIndex for MilvusIndex {
    fn kind(&self) -> &'static str {
        "milvus"
    }

    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn dim(&self) -> usize {
        self.vectors.dim()
    }

    fn vector(&self, id: u32) -> &[f32] {
        self.vectors.row(id as usize)
    }

    fn health(&self) -> std::result::Result<(), String> {
        match self.milvus_health() {
            Ok((true, _)) => Ok(()),
            Ok((false, reasons)) => Err(format!("Milvus {} is unhealthy: {}", self.client.addr(), reasons.join("; "))),
            Err(e) => Err(e.to_string()),
        }
    }

    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        match self.search_where(query, k, ef, "") {
            Ok(hits) => hits,
            Err(e) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, collection = %self.collection, "Milvus search failed; answering by exact scan");
                scan(self, query, k)
            }
        }
    }
}
