//! An async Milvus client over tonic: collections, aliases, HNSW indexes, loading,
//! upsert / delete, filtered search, counts, flush and health. Every call has a deadline
//! and every failure names the call and the collection.

use crate::pb::common::{self, ConsistencyLevel, ErrorCode, KeyValuePair, PlaceholderGroup, PlaceholderValue};
use crate::pb::milvus::{self as mv, milvus_service_client::MilvusServiceClient};
use crate::pb::schema::{self, DataType, field_data, scalar_field};
use crate::{MilvusError, Result};
use prost::Message;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

mod rows;

pub use rows::{Column, ColumnData, KEY_FIELD, Rows, ScalarType, VECTOR_FIELD};

#[derive(Debug, Clone)]
pub struct MilvusClient {
    addr: String,
    inner: MilvusServiceClient<Channel>,
    /// Reads see every write acknowledged before them (tests, publish checks) when
    /// Strong; serving uses Bounded (faster, seconds behind at most).
    pub consistency: ConsistencyLevel,
}

fn status_error(call: &'static str, collection: &str, status: Option<&common::Status>) -> Result<()> {
    match status {
        Some(s) if s.error_code != ErrorCode::Success as i32 || s.code != 0 => Err(MilvusError::Call {
            call,
            collection: collection.to_string(),
            reason: format!("{} (error code {}, code {})", s.reason, s.error_code, s.code),
        }),
        _ => Ok(()),
    }
}

impl MilvusClient {
    /// Connect to the Milvus proxy at `addr` (host:port). Every later call must answer
    /// within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Self> {
        let unreachable = |reason: String| MilvusError::Unreachable { addr: addr.to_string(), reason };
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| unreachable(format!("not a host:port ({e})")))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = endpoint.connect().await.map_err(|e| unreachable(e.to_string()))?;
        let inner = MilvusServiceClient::new(channel).max_decoding_message_size(256 << 20);
        Ok(Self { addr: addr.to_string(), inner, consistency: ConsistencyLevel::Bounded })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn rpc_error(&self, call: &'static str, collection: &str, e: tonic::Status) -> MilvusError {
        match e.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                MilvusError::Unreachable { addr: self.addr.clone(), reason: format!("{call}: {}", e.message()) }
            }
            _ => MilvusError::Call { call, collection: collection.to_string(), reason: e.message().to_string() },
        }
    }

    /// Whether the server says it is healthy, with its reasons when not.
    pub async fn health(&self) -> Result<(bool, Vec<String>)> {
        let r = self
            .inner
            .clone()
            .check_health(mv::CheckHealthRequest {})
            .await
            .map_err(|e| self.rpc_error("CheckHealth", "", e))?
            .into_inner();
        status_error("CheckHealth", "", r.status.as_ref())?;
        Ok((r.is_healthy, r.reasons))
    }

    pub async fn has_collection(&self, name: &str) -> Result<bool> {
        let r = self
            .inner
            .clone()
            .has_collection(mv::HasCollectionRequest { collection_name: name.into(), ..Default::default() })
            .await
            .map_err(|e| self.rpc_error("HasCollection", name, e))?
            .into_inner();
        status_error("HasCollection", name, r.status.as_ref())?;
        Ok(r.value)
    }

    pub async fn list_collections(&self) -> Result<Vec<String>> {
        Ok(self.collections_with_ids().await?.into_iter().map(|(n, _)| n).collect())
    }

    async fn collections_with_ids(&self) -> Result<Vec<(String, i64)>> {
        let r = self
            .inner
            .clone()
            .show_collections(mv::ShowCollectionsRequest::default())
            .await
            .map_err(|e| self.rpc_error("ShowCollections", "", e))?
            .into_inner();
        status_error("ShowCollections", "", r.status.as_ref())?;
        Ok(r.collection_names.into_iter().zip(r.collection_ids).collect())
    }

    /// Create `name` (int64 key, `dim` float vector, `scalars`) unless it exists; an
    /// existing collection must have the same vector size.
    pub async fn ensure_collection(&self, name: &str, dim: usize, scalars: &[(&str, ScalarType)]) -> Result<()> {
        if self.has_collection(name).await? {
            let d = self.vector_dim(name).await?;
            if d != dim {
                return Err(MilvusError::Invalid(format!(
                    "collection {name:?} holds {d}-dimensional vectors, not {dim}"
                )));
            }
            return Ok(());
        }
        let kv = |k: &str, v: String| KeyValuePair { key: k.into(), value: v };
        let mut fields = vec![
            schema::FieldSchema {
                field_id: 100,
                name: KEY_FIELD.into(),
                is_primary_key: true,
                data_type: DataType::Int64 as i32,
                ..Default::default()
            },
            schema::FieldSchema {
                field_id: 101,
                name: VECTOR_FIELD.into(),
                data_type: DataType::FloatVector as i32,
                type_params: vec![kv("dim", dim.to_string())],
                ..Default::default()
            },
        ];
        for (i, (field, ty)) in scalars.iter().enumerate() {
            let (data_type, type_params) = match ty {
                ScalarType::Bool => (DataType::Bool, vec![]),
                ScalarType::Int64 => (DataType::Int64, vec![]),
                ScalarType::Float => (DataType::Float, vec![]),
                ScalarType::VarChar(n) => (DataType::VarChar, vec![kv("max_length", n.to_string())]),
            };
            fields.push(schema::FieldSchema {
                field_id: 102 + i as i64,
                name: (*field).into(),
                data_type: data_type as i32,
                type_params,
                ..Default::default()
            });
        }
        let schema = schema::CollectionSchema { name: name.into(), fields, ..Default::default() };
        let r = self
            .inner
            .clone()
            .create_collection(mv::CreateCollectionRequest {
                collection_name: name.into(),
                schema: schema.encode_to_vec(),
                shards_num: 1,
                consistency_level: ConsistencyLevel::Bounded as i32,
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("CreateCollection", name, e))?
            .into_inner();
        status_error("CreateCollection", name, Some(&r))
    }

    /// The id and vector size of a collection (or of the collection an alias names).
    pub async fn describe(&self, name: &str) -> Result<(i64, usize)> {
        let r = self
            .inner
            .clone()
            .describe_collection(mv::DescribeCollectionRequest { collection_name: name.into(), ..Default::default() })
            .await
            .map_err(|e| self.rpc_error("DescribeCollection", name, e))?
            .into_inner();
        status_error("DescribeCollection", name, r.status.as_ref())?;
        let dim = r
            .schema
            .as_ref()
            .and_then(|s| s.fields.iter().find(|f| f.name == VECTOR_FIELD))
            .and_then(|f| f.type_params.iter().find(|p| p.key == "dim"))
            .and_then(|p| p.value.parse().ok())
            .ok_or_else(|| MilvusError::Invalid(format!("collection {name:?} has no {VECTOR_FIELD} field")))?;
        Ok((r.collection_id, dim))
    }

    async fn vector_dim(&self, name: &str) -> Result<usize> {
        Ok(self.describe(name).await?.1)
    }

    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        let r = self
            .inner
            .clone()
            .drop_collection(mv::DropCollectionRequest { collection_name: name.into(), ..Default::default() })
            .await
            .map_err(|e| self.rpc_error("DropCollection", name, e))?
            .into_inner();
        status_error("DropCollection", name, Some(&r))
    }

    /// Insert or replace rows by key (running it twice stores them once).
    pub async fn upsert(&self, collection: &str, rows: &Rows) -> Result<u64> {
        let n = rows.keys.len();
        let fields_data = rows.fields_data(collection)?;
        let r = self
            .inner
            .clone()
            .upsert(mv::UpsertRequest {
                collection_name: collection.into(),
                fields_data,
                num_rows: n as u32,
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("Upsert", collection, e))?
            .into_inner();
        status_error("Upsert", collection, r.status.as_ref())?;
        Ok(r.upsert_cnt.max(0) as u64)
    }

    /// Delete the rows matching a boolean expression (e.g. `key in [1, 2]`).
    pub async fn delete(&self, collection: &str, expr: &str) -> Result<u64> {
        let r = self
            .inner
            .clone()
            .delete(mv::DeleteRequest { collection_name: collection.into(), expr: expr.into(), ..Default::default() })
            .await
            .map_err(|e| self.rpc_error("Delete", collection, e))?
            .into_inner();
        status_error("Delete", collection, r.status.as_ref())?;
        Ok(r.delete_cnt.max(0) as u64)
    }

    /// Seal what was written into persisted segments.
    pub async fn flush(&self, collection: &str) -> Result<()> {
        let r = self
            .inner
            .clone()
            .flush(mv::FlushRequest { collection_names: vec![collection.into()], ..Default::default() })
            .await
            .map_err(|e| self.rpc_error("Flush", collection, e))?
            .into_inner();
        status_error("Flush", collection, r.status.as_ref())
    }

    /// An HNSW index (inner product) on the vector field, unless one is there.
    pub async fn ensure_hnsw_index(&self, collection: &str, m: usize, ef_construction: usize) -> Result<()> {
        if self.describe_index(collection).await.is_ok_and(|d| !d.is_empty()) {
            return Ok(());
        }
        let kv = |k: &str, v: &str| KeyValuePair { key: k.into(), value: v.into() };
        let params = serde_json::json!({ "M": m, "efConstruction": ef_construction }).to_string();
        let r = self
            .inner
            .clone()
            .create_index(mv::CreateIndexRequest {
                collection_name: collection.into(),
                field_name: VECTOR_FIELD.into(),
                extra_params: vec![kv("index_type", "HNSW"), kv("metric_type", "IP"), kv("params", &params)],
                index_name: "hnsw".into(),
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("CreateIndex", collection, e))?
            .into_inner();
        status_error("CreateIndex", collection, Some(&r))
    }

    /// The indexes on the vector field (empty, or an error, when there is none).
    async fn describe_index(&self, collection: &str) -> Result<Vec<mv::IndexDescription>> {
        let r = self
            .inner
            .clone()
            .describe_index(mv::DescribeIndexRequest {
                collection_name: collection.into(),
                field_name: VECTOR_FIELD.into(),
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("DescribeIndex", collection, e))?
            .into_inner();
        status_error("DescribeIndex", collection, r.status.as_ref())?;
        Ok(r.index_descriptions)
    }

    /// Ask `done` every `every` until it says yes (or fails), at most `wait`; then a
    /// Timeout naming `call` and the collection.
    async fn poll<F, Fut>(
        &self,
        call: &'static str,
        collection: &str,
        wait: Duration,
        every: Duration,
        mut done: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let start = Instant::now();
        while !done().await? {
            if start.elapsed() > wait {
                return Err(MilvusError::Timeout {
                    call,
                    collection: collection.into(),
                    waited_s: start.elapsed().as_secs_f64(),
                });
            }
            tokio::time::sleep(every).await;
        }
        Ok(())
    }

    /// Wait until the vector index covers all `rows` rows (Milvus builds it in the
    /// background after a flush; until then segments are searched without it).
    pub async fn wait_indexed(&self, collection: &str, rows: u64, wait: Duration) -> Result<()> {
        self.poll("CreateIndex", collection, wait, Duration::from_millis(250), || async {
            let descriptions = self.describe_index(collection).await?;
            let Some(d) = descriptions.first() else {
                return Err(MilvusError::Call {
                    call: "DescribeIndex",
                    collection: collection.into(),
                    reason: "no index on the vector field".into(),
                });
            };
            if !d.index_state_fail_reason.is_empty() {
                return Err(MilvusError::Call {
                    call: "CreateIndex",
                    collection: collection.into(),
                    reason: d.index_state_fail_reason.clone(),
                });
            }
            let total = d.total_rows.max(0) as u64;
            Ok(total >= rows && d.indexed_rows >= d.total_rows && d.pending_index_rows == 0)
        })
        .await
    }

    /// Load a collection into the query nodes and wait until it is served.
    pub async fn load(&self, collection: &str, wait: Duration) -> Result<()> {
        let r = self
            .inner
            .clone()
            .load_collection(mv::LoadCollectionRequest {
                collection_name: collection.into(),
                replica_number: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("LoadCollection", collection, e))?
            .into_inner();
        status_error("LoadCollection", collection, Some(&r))?;
        self.poll("LoadCollection", collection, wait, Duration::from_millis(200), || async {
            let s = self
                .inner
                .clone()
                .get_load_state(mv::GetLoadStateRequest { collection_name: collection.into(), ..Default::default() })
                .await
                .map_err(|e| self.rpc_error("GetLoadState", collection, e))?
                .into_inner();
            status_error("GetLoadState", collection, s.status.as_ref())?;
            Ok(s.state == common::LoadState::Loaded as i32)
        })
        .await
    }

    /// Rows of a loaded collection matching `expr` ("" = all), counted by the server.
    pub async fn count(&self, collection: &str, expr: &str) -> Result<u64> {
        let r = self
            .inner
            .clone()
            .query(mv::QueryRequest {
                collection_name: collection.into(),
                expr: expr.into(),
                output_fields: vec!["count(*)".into()],
                consistency_level: self.consistency as i32,
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("Query", collection, e))?
            .into_inner();
        status_error("Query", collection, r.status.as_ref())?;
        let n = r.fields_data.iter().find_map(|f| match &f.field {
            Some(field_data::Field::Scalars(schema::ScalarField { data: Some(scalar_field::Data::LongData(l)) })) => {
                l.data.first().copied()
            }
            _ => None,
        });
        n.map(|n| n.max(0) as u64).ok_or_else(|| MilvusError::Call {
            call: "Query",
            collection: collection.into(),
            reason: "count(*) came back without a number".into(),
        })
    }

    /// The `k` nearest keys (highest inner product) of each query vector among the rows
    /// matching `filter` ("" = all), with their scores, best first. `ef` is HNSW's
    /// search breadth (at least `k`).
    pub async fn search(
        &self,
        collection: &str,
        queries: &[&[f32]],
        k: usize,
        ef: usize,
        filter: &str,
    ) -> Result<Vec<Vec<(i64, f32)>>> {
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let values = queries.iter().map(|q| q.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).collect();
        let group = PlaceholderGroup {
            placeholders: vec![PlaceholderValue {
                tag: "$0".into(),
                r#type: common::PlaceholderType::FloatVector as i32,
                values,
            }],
        };
        let kv = |k: &str, v: String| KeyValuePair { key: k.into(), value: v };
        let params = serde_json::json!({ "ef": ef.max(k) }).to_string();
        let r = self
            .inner
            .clone()
            .search(mv::SearchRequest {
                collection_name: collection.into(),
                dsl: filter.into(),
                dsl_type: common::DslType::BoolExprV1 as i32,
                placeholder_group: group.encode_to_vec(),
                search_params: vec![
                    kv("anns_field", VECTOR_FIELD.into()),
                    kv("topk", k.to_string()),
                    kv("metric_type", "IP".into()),
                    kv("params", params),
                    kv("round_decimal", "-1".into()),
                ],
                nq: queries.len() as i64,
                consistency_level: self.consistency as i32,
                ..Default::default()
            })
            .await
            .map_err(|e| self.rpc_error("Search", collection, e))?
            .into_inner();
        status_error("Search", collection, r.status.as_ref())?;
        let Some(res) = r.results else { return Ok(vec![Vec::new(); queries.len()]) };
        let ids = match res.ids.and_then(|i| i.id_field) {
            Some(schema::i_ds::IdField::IntId(l)) => l.data,
            Some(schema::i_ds::IdField::StrId(_)) => {
                return Err(MilvusError::Call {
                    call: "Search",
                    collection: collection.into(),
                    reason: "string keys in the answer; tuneclip stores int64 keys".into(),
                });
            }
            None => Vec::new(),
        };
        if ids.len() != res.scores.len() || res.topks.iter().sum::<i64>() as usize != ids.len() {
            return Err(MilvusError::Call {
                call: "Search",
                collection: collection.into(),
                reason: format!("{} ids, {} scores, topks {:?}: inconsistent", ids.len(), res.scores.len(), res.topks),
            });
        }
        let mut out = Vec::with_capacity(queries.len());
        let mut at = 0usize;
        for q in 0..queries.len() {
            let n = res.topks.get(q).copied().unwrap_or(0).max(0) as usize;
            out.push(ids[at..at + n].iter().copied().zip(res.scores[at..at + n].iter().copied()).collect());
            at += n;
        }
        Ok(out)
    }

    /// The collection `alias` names, if the alias exists.
    pub async fn alias_target(&self, alias: &str) -> Result<Option<String>> {
        // Describing an alias answers with the alias's own name but the collection's id.
        let id = match self.describe(alias).await {
            Ok((id, _)) => id,
            Err(MilvusError::Call { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(self.collections_with_ids().await?.into_iter().find(|(_, i)| *i == id).map(|(n, _)| n))
    }

    /// Point `alias` at `collection` in one step (created if missing): queries through
    /// the alias switch from the old collection to the new one at once.
    pub async fn point_alias(&self, alias: &str, collection: &str) -> Result<()> {
        let exists = self.alias_target(alias).await?.is_some();
        let r = if exists {
            self.inner
                .clone()
                .alter_alias(mv::AlterAliasRequest {
                    collection_name: collection.into(),
                    alias: alias.into(),
                    ..Default::default()
                })
                .await
        } else {
            self.inner
                .clone()
                .create_alias(mv::CreateAliasRequest {
                    collection_name: collection.into(),
                    alias: alias.into(),
                    ..Default::default()
                })
                .await
        };
        let r = r.map_err(|e| self.rpc_error("AlterAlias", collection, e))?.into_inner();
        status_error(if exists { "AlterAlias" } else { "CreateAlias" }, collection, Some(&r))
    }
}
