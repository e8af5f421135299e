//! [`MilvusIndex`]: a [`VectorIndex`] answered by a Milvus collection.

use crate::client::MilvusClient;
use crate::{MilvusError, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tuneclip_ann::{Hit, Unhealthy, VectorIndex, Vectors, scan};

/// The vectors of one generation collection, searched by Milvus (its HNSW index). Row
/// `i` of `vectors` is stored under `keys[i]`; answers come back as row numbers.
///
/// The trait's search cannot fail: when Milvus does not answer, the search falls back
/// to an exact scan of the local vectors (same results, slower), logs it, and counts it
/// in [`MilvusIndex::fallbacks`].
///
/// A **circuit breaker** keeps a hung Milvus from costing every search the client's
/// timeout: after [`BREAKER_FAILURES`] failed searches in a row the circuit opens and
/// searches go straight to the exact scan (counted in [`MilvusIndex::skipped`]); after
/// [`BREAKER_COOL`] one search asks Milvus again, and its success closes the circuit.
/// While it is open, [`VectorIndex::health`] fails at once, saying so.
///
/// Concurrent searches are **batched**: while one Milvus call is in flight, searches
/// from other threads queue, and the next call sends all of them (up to [`MAX_BATCH`],
/// one call per distinct `k` and `ef`), so that a busy server pays one round trip for
/// many searches instead of one each; a lone search is sent at once.
/// [`MilvusIndex::calls`] counts the calls.
pub struct MilvusIndex {
    /// The client's own runtime (searches come from blocking threads); `None` only
    /// while dropping.
    rt: Option<tokio::runtime::Runtime>,
    client: MilvusClient,
    collection: String,
    vectors: Arc<Vectors>,
    row_of: HashMap<i64, u32>,
    fallbacks: AtomicU64,
    skipped: AtomicU64,
    breaker: Mutex<Breaker>,
    batch: Mutex<BatchState>,
    batch_done: Condvar,
    calls: AtomicU64,
}

/// Most searches sent in one Milvus call.
pub const MAX_BATCH: usize = 256;

/// Searches waiting to be sent, and the answers of those sent, by ticket.
#[derive(Default)]
struct BatchState {
    next_ticket: u64,
    waiting: Vec<(u64, Vec<f32>, usize, usize)>,
    answers: HashMap<u64, std::result::Result<Vec<Hit>, String>>,
    /// A caller is sending a batch now.
    sending: bool,
}

/// Failed searches in a row that open the circuit.
pub const BREAKER_FAILURES: u32 = 2;
/// How long an open circuit sends searches straight to the exact scan before one asks
/// Milvus again.
pub const BREAKER_COOL: Duration = Duration::from_secs(5);

/// The circuit breaker's state.
#[derive(Debug)]
struct Breaker {
    failures_in_a_row: u32,
    /// Open until then (`None`: closed).
    open_until: Option<Instant>,
    /// A search is asking Milvus whether it is back (the others keep scanning).
    probing: bool,
    threshold: u32,
    cool: Duration,
}

/// What a search does under the breaker.
enum Route {
    Milvus,
    Probe,
    Scan,
}

impl Breaker {
    fn route(&mut self, now: Instant) -> Route {
        match self.open_until {
            None => Route::Milvus,
            Some(until) if now >= until && !self.probing => {
                self.probing = true;
                Route::Probe
            }
            Some(_) => Route::Scan,
        }
    }

    fn record(&mut self, ok: bool, now: Instant) {
        self.probing = false;
        if ok {
            self.failures_in_a_row = 0;
            self.open_until = None;
        } else {
            self.failures_in_a_row += 1;
            if self.failures_in_a_row >= self.threshold || self.open_until.is_some() {
                self.open_until = Some(now + self.cool);
            }
        }
    }
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
        Ok(Self {
            rt: Some(rt),
            client,
            collection: collection.into(),
            vectors,
            row_of,
            fallbacks: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            breaker: Mutex::new(Breaker {
                failures_in_a_row: 0,
                open_until: None,
                probing: false,
                threshold: BREAKER_FAILURES,
                cool: BREAKER_COOL,
            }),
            batch: Mutex::new(BatchState::default()),
            batch_done: Condvar::new(),
            calls: AtomicU64::new(0),
        })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Searches answered by the local exact scan because Milvus failed or the circuit
    /// was open.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Milvus Search calls made by [`VectorIndex::search`] (one per batch).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// One unfiltered search through the batch: queue it, and either wait for the
    /// caller sending a batch to bring its answer, or send the queue itself.
    fn search_batched(&self, query: &[f32], k: usize, ef: usize) -> std::result::Result<Vec<Hit>, String> {
        let lock = || self.batch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, query.to_vec(), k, ef));
        loop {
            if let Some(answer) = state.answers.remove(&ticket) {
                return answer;
            }
            if state.sending {
                state = self.batch_done.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // Send what is queued (this search among it, or it goes in the next one).
            state.sending = true;
            let take = state.waiting.len().min(MAX_BATCH);
            let batch: Vec<(u64, Vec<f32>, usize, usize)> = state.waiting.drain(..take).collect();
            drop(state);
            // Should the call panic, the others must not wait for this sender forever:
            // the guard hands the turn on (their searches then fail and are scanned).
            struct Turn<'a>(&'a MilvusIndex, &'a [(u64, Vec<f32>, usize, usize)], bool);
            impl Drop for Turn<'_> {
                fn drop(&mut self) {
                    if !self.2 {
                        let mut state = self.0.batch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        state.answers.extend(self.1.iter().map(|b| (b.0, Err("the Milvus call panicked".to_string()))));
                        state.sending = false;
                        self.0.batch_done.notify_all();
                    }
                }
            }
            let mut turn = Turn(self, &batch, false);
            let mut answers = Vec::with_capacity(batch.len());
            let mut groups: Vec<(usize, usize)> = batch.iter().map(|b| (b.2, b.3)).collect();
            groups.sort_unstable();
            groups.dedup();
            for (gk, gef) in groups {
                let members: Vec<&(u64, Vec<f32>, usize, usize)> =
                    batch.iter().filter(|b| (b.2, b.3) == (gk, gef)).collect();
                let queries: Vec<&[f32]> = members.iter().map(|b| b.1.as_slice()).collect();
                self.calls.fetch_add(1, Ordering::Relaxed);
                match self.block(self.client.search(&self.collection, &queries, gk, gef, "")) {
                    Ok(found) => {
                        for (m, rows) in members.iter().zip(found) {
                            answers.push((m.0, Ok(self.hits(rows))));
                        }
                    }
                    Err(e) => answers.extend(members.iter().map(|m| (m.0, Err(e.to_string())))),
                }
            }
            turn.2 = true;
            state = lock();
            state.answers.extend(answers);
            state.sending = false;
            self.batch_done.notify_all();
        }
    }

    /// Milvus's (key, score) rows as hits, best first.
    fn hits(&self, rows: Vec<(i64, f32)>) -> Vec<Hit> {
        let mut hits: Vec<Hit> =
            rows.into_iter().filter_map(|(key, score)| self.row_of.get(&key).map(|&id| Hit { id, score })).collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits
    }

    /// Searches answered by the exact scan without asking Milvus (the circuit open).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Whether the circuit is open: Milvus failed [`BREAKER_FAILURES`] searches in a row
    /// and has not answered one since.
    pub fn circuit_open(&self) -> bool {
        self.breaker().open_until.is_some()
    }

    /// Other breaker settings than [`BREAKER_FAILURES`] and [`BREAKER_COOL`].
    pub fn set_breaker(&self, failures: u32, cool: Duration) {
        let mut b = self.breaker();
        (b.threshold, b.cool) = (failures.max(1), cool);
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // The state stays consistent whatever panicked while holding it.
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        Ok(self.hits(found.into_iter().flatten().collect()))
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
    fn kind(&self) -> tuneclip_ann::IndexKind {
        tuneclip_ann::IndexKind::Milvus
    }

    fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    fn health(&self) -> std::result::Result<(), Unhealthy> {
        let unhealthy = |reason: String| Err(Unhealthy { kind: tuneclip_ann::IndexKind::Milvus.as_str(), reason });
        if self.circuit_open() {
            return unhealthy(format!(
                "Milvus {} stopped answering searches: {} answered by exact scan without asking it (asked again every {:.0} s)",
                self.client.addr(),
                self.skipped(),
                self.breaker().cool.as_secs_f64()
            ));
        }
        match self.milvus_health() {
            Ok((true, _)) => Ok(()),
            Ok((false, reasons)) => {
                unhealthy(format!("Milvus {} is unhealthy: {}", self.client.addr(), reasons.join("; ")))
            }
            Err(e) => unhealthy(e.to_string()),
        }
    }

    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        let route = self.breaker().route(Instant::now());
        if let Route::Scan = route {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            return scan(self, query, k);
        }
        let answer = self.search_batched(query, k, ef);
        let was_open = self.circuit_open();
        self.breaker().record(answer.is_ok(), Instant::now());
        match answer {
            Ok(hits) => {
                if matches!(route, Route::Probe) {
                    tracing::info!(collection = %self.collection, "Milvus answers again; circuit closed");
                }
                hits
            }
            Err(e) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if !was_open && self.circuit_open() {
                    tracing::warn!(error = %e, collection = %self.collection, "Milvus failed searches in a row; circuit open, answering by exact scan");
                } else {
                    tracing::warn!(error = %e, collection = %self.collection, "Milvus search failed; answering by exact scan");
                }
                scan(self, query, k)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker { failures_in_a_row: 0, open_until: None, probing: false, threshold: 2, cool: Duration::from_secs(5) }
    }

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_probes_once_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = breaker();
        // One failure between successes does not open it.
        assert!(matches!(b.route(t0), Route::Milvus));
        b.record(false, t0);
        b.record(true, t0);
        b.record(false, t0);
        assert!(b.open_until.is_none());
        // Two in a row do.
        b.record(false, t0);
        assert_eq!(b.open_until, Some(t0 + Duration::from_secs(5)));
        assert!(matches!(b.route(t0 + Duration::from_secs(1)), Route::Scan));
        // After the cool-down one search probes; the others keep scanning meanwhile.
        let later = t0 + Duration::from_secs(6);
        assert!(matches!(b.route(later), Route::Probe));
        assert!(matches!(b.route(later), Route::Scan));
        // A failed probe opens it for another cool-down.
        b.record(false, later);
        assert_eq!(b.open_until, Some(later + Duration::from_secs(5)));
        assert!(matches!(b.route(later + Duration::from_secs(1)), Route::Scan));
        // A successful probe closes it.
        let again = later + Duration::from_secs(5);
        assert!(matches!(b.route(again), Route::Probe));
        b.record(true, again);
        assert!(b.open_until.is_none() && b.failures_in_a_row == 0);
        assert!(matches!(b.route(again), Route::Milvus));
    }
}
