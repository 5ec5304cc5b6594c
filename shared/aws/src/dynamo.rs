//! The DynamoDB store: every port of `muster_core::ports::Store` over one table, with the same
//! observable semantics as the SQLite store (the conformance suite decides).
//!
//! It owns the item layout below and must never Scan on a hot path: the only Scan is the
//! unfiltered admin listing of findings (`muster findings` with no owner or open filter).
//!
//! # Items (`pk` / `sk`, both strings)
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | finding | `FINDING#<fp hex>` | `FINDING` | `body` (finding JSON), `fp`, index attributes below |
//! | latest run of a scope | `RUN#<scope>` | `HEAD` | `run_id`, `at`, `received`, `digest` (B), `set_hash` (B), `count`, `chunks`, `gen`, `fps` (B, first chunk) |
//! | further fingerprint chunks | `RUN#<scope>` | `CHUNK#<gen>#<n>` | `fps` (B) |
//! | ticket | `TICKET` | `<group key>` | `body` (ticket JSON) |
//! | outbox entry | `OUTBOX` | `DEDUPE#<dedupe key>` | `id`, `body` (entry JSON) |
//! | dead letter | `DEAD` | `ID#<id, 20 digits>` | `body` (dead letter JSON) |
//! | imported document | `DOC` | `owners#`, `assets#`, `codeowners#<repo>` | `body` (JSON) |
//! | KEV entry | `KEV` | `<CVE>` | `body` (entry JSON) |
//! | EPSS score | `EPSS#<shard 0..16>` | `<CVE>` | `p`, `pct` (numbers) |
//! | id counter | `COUNTER` | `outbox`, `dead` | `next` |
//!
//! # Finding indexes (all projecting ALL attributes, so a listing is one Query per page)
//!
//! - `open-by-due` (sparse): open **and triaged** findings carry `open_pk = OPEN#<shard>` and
//!   `open_sk = <due_at>#<fp>`, so the sweep reads "due before T" as a key range per shard; 8
//!   shards (by the fingerprint's first byte) spread the writes. Risk-accepted findings (still
//!   open) carry `ACCEPTED#<shard>` instead, so the hourly review of expired acceptances reads
//!   the accepted findings only, not the whole open backlog. Open findings that triage has
//!   not reached yet carry `open_pk = UNTRIAGED#<shard>`, `open_sk = <fp>`: they never appear in
//!   the due-date partitions, yet `open_only` listings stay exact without a Scan. Closed
//!   findings carry neither attribute and drop out of the index when they are rewritten.
//! - `by-owner`: triaged findings carry `owner = <team>` and `owner_sk = <tier>#<due_at>#<fp>`
//!   (digests and `--owner` listings).
//! - `by-group`: triaged findings carry `group_key` and sort by `fp`, so `group_findings` is one
//!   Query (a GSI rather than membership items: the membership then changes with the same single
//!   put that changes the finding, and cannot drift from it).
//!
//! Fingerprint sets of runs are stored as 16-byte binaries: a 20k-finding run is one 320 KB item.
//! Larger runs spill into `CHUNK` items of the same partition (24,000 fingerprints each), named
//! by a content hash (`gen`), written before the head that points to them and deleted after it,
//! so a reader always sees one complete set. Re-recording a run whose set is unchanged is one
//! conditional `UpdateItem`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, PutRequest, ReturnValue, ScalarAttributeType, TableStatus,
    WriteRequest,
};
use muster_core::assets::Asset;
use muster_core::intel::{EpssScore, KevEntry};
use muster_core::model::{AssetKey, Finding, Fingerprint, GroupKey, ScanRun, ScopeKey, Status, Ticket};
use muster_core::ownership::{Matcher, Ownership, OwnershipRule};
use muster_core::ports::{
    ContextStore, CveIntel, DeadLetter, DeadLetterStore, FindingFilter, FindingStore, IntelStore, OrgContext,
    OutboxEntry, OutboxStore, RunStore, StoreError, TicketStore,
};
use muster_core::retry::RetryPolicy;
use sha2::{Digest as _, Sha256};

use crate::error::AwsError;

type Item = HashMap<String, AttributeValue>;

/// Name of the sparse index of open findings by due date.
pub const OPEN_INDEX: &str = "open-by-due";
/// Name of the index of triaged findings by owner.
pub const OWNER_INDEX: &str = "by-owner";
/// Name of the index of triaged findings by remediation group.
pub const GROUP_INDEX: &str = "by-group";

/// Partitions of the open-findings index: enough to spread a large backlog's writes.
const OPEN_SHARDS: u8 = 8;
/// Partitions of the EPSS scores: a daily refresh rewrites ~300k rows, more than one
/// partition's 1,000 writes per second would take in reasonable time.
const EPSS_SHARDS: u8 = 16;
/// BatchWriteItem takes at most 25 requests.
const WRITE_BATCH: usize = 25;
/// BatchGetItem takes at most 100 keys.
const GET_BATCH: usize = 100;
/// Fingerprints per run item: 384,000 bytes, leaving room under the 400 KB item limit for the
/// head's other attributes.
const FINGERPRINTS_PER_ITEM: usize = 24_000;
/// Largest JSON body kept in one item.
const MAX_BODY: usize = 390_000;
/// Batch writes in flight at once for one call (a 300k-row EPSS refresh is 12,000 batches).
const WRITE_CONCURRENCY: usize = 4;

/// Requests sent so far, for cost tests and metrics: DynamoDB bills and throttles per request
/// and item, so a regression in request counts is a regression in cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GetItem, BatchGetItem, Query and Scan calls (each page counts).
    pub reads: u64,
    /// Items those reads returned: what on-demand read units are billed by (with item size).
    pub items_read: u64,
    /// PutItem, UpdateItem, DeleteItem and BatchWriteItem calls (each retry counts).
    pub writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    items_read: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
    fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
    fn items(&self, count: usize) {
        self.items_read.fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// A `Store` over one DynamoDB table. Cheap to clone: clones share the SDK client.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    retry: RetryPolicy,
    /// How long resolved findings stay before the table's TTL removes them; `None` keeps them.
    retention: Option<chrono::Duration>,
    counters: Arc<Counters>,
}

/// Days resolved findings are kept by default (the SAM template's `Retention` default).
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// The attribute the table's TTL reads: epoch seconds after which DynamoDB deletes the item.
pub const TTL_ATTRIBUTE: &str = "expires_at";

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn item_name(item: &Item) -> String {
    let part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    format!("{}/{}", part("pk"), part("sk"))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, AwsError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| AwsError::malformed(item_name(item), format!("no string attribute {name}")))
}

fn get_b<'a>(item: &'a Item, name: &str) -> Result<&'a [u8], AwsError> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(Blob::as_ref)
        .ok_or_else(|| AwsError::malformed(item_name(item), format!("no binary attribute {name}")))
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, AwsError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| AwsError::malformed(item_name(item), format!("no numeric attribute {name}")))
}

fn decode_body<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, AwsError> {
    serde_json::from_str(get_s(item, "body")?)
        .map_err(|e| AwsError::malformed(item_name(item), format!("body is not valid JSON for this version: {e}")))
}

fn encode_body(what: &str, value: &impl serde::Serialize) -> Result<String, StoreError> {
    let body = serde_json::to_string(value).map_err(|e| StoreError::Unknown(e.into()))?;
    if body.len() > MAX_BODY {
        return Err(AwsError::TooLarge {
            what: what.to_owned(),
            bytes: body.len(),
            limit: MAX_BODY,
        }
        .into());
    }
    Ok(body)
}

fn time_text(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn finding_pk(fingerprint: &Fingerprint) -> String {
    format!("FINDING#{}", fingerprint.to_hex())
}

/// The finding as its item: body plus the attributes its indexes key on, and for a closed
/// finding the TTL after which DynamoDB removes it (a reopened finding's put drops it again).
fn finding_item(finding: &Finding, retention: Option<chrono::Duration>) -> Result<Item, StoreError> {
    let fingerprint = finding.fingerprint();
    let hex = fingerprint.to_hex();
    let mut item = key(finding_pk(&fingerprint), "FINDING");
    item.insert("fp".into(), s(&hex));
    item.insert("body".into(), s(encode_body(&format!("finding {hex}"), finding)?));
    let shard = fingerprint.as_bytes()[0] % OPEN_SHARDS;
    match finding.triage.as_deref() {
        Some(triage) => {
            let due = time_text(triage.due_at);
            if finding.status.is_open() {
                let partition = if finding.status == Status::RiskAccepted {
                    "ACCEPTED"
                } else {
                    "OPEN"
                };
                item.insert("open_pk".into(), s(format!("{partition}#{shard}")));
                item.insert("open_sk".into(), s(format!("{due}#{hex}")));
            }
            item.insert("owner".into(), s(triage.owner.to_string()));
            item.insert(
                "owner_sk".into(),
                s(format!("{}#{due}#{hex}", triage.risk.tier.as_str())),
            );
            item.insert("group_key".into(), s(triage.group.to_string()));
        }
        None if finding.status.is_open() => {
            item.insert("open_pk".into(), s(format!("UNTRIAGED#{shard}")));
            item.insert("open_sk".into(), s(&hex));
        }
        None => {}
    }
    if let (false, Some(resolved), Some(retention)) = (finding.status.is_open(), finding.resolved_at, retention) {
        let expires = (resolved + retention).timestamp();
        item.insert(TTL_ATTRIBUTE.into(), AttributeValue::N(expires.to_string()));
    }
    Ok(item)
}

/// The same predicate as the SQLite store's WHERE clause.
fn matches(filter: &FindingFilter, finding: &Finding) -> bool {
    let triage = finding.triage.as_deref();
    filter.status.is_none_or(|status| finding.status == status)
        && (!filter.open_only || finding.status.is_open())
        && filter
            .owner
            .as_ref()
            .is_none_or(|owner| triage.is_some_and(|t| &t.owner == owner))
        && filter
            .tier
            .is_none_or(|tier| triage.is_some_and(|t| t.risk.tier.as_str() == tier.as_str()))
        && (!filter.unowned || triage.is_some_and(|t| t.is_unowned()))
        && filter
            .severity
            .is_none_or(|severity| finding.detection.severity.as_str() == severity.as_str())
}

/// SQLite's `ORDER BY tier IS NULL, tier, due_at, fingerprint` (NULL due dates first).
fn urgency(finding: &Finding) -> (bool, &'static str, Option<chrono::DateTime<chrono::Utc>>, Fingerprint) {
    let triage = finding.triage.as_deref();
    (
        triage.is_none(),
        triage.map_or("", |t| t.risk.tier.as_str()),
        triage.map(|t| t.due_at),
        finding.fingerprint(),
    )
}

fn fingerprint_set_hash(bytes: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

fn hex16(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn epss_pk(cve: &str) -> String {
    // FNV-1a: stable across builds and platforms (unlike std's hasher), so readers and
    // writers of different versions agree on the shard.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in cve.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("EPSS#{}", hash % u32::from(EPSS_SHARDS))
}

fn put(item: Item) -> Result<WriteRequest, AwsError> {
    Ok(WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build()?)
        .build())
}

fn delete(key: Item) -> Result<WriteRequest, AwsError> {
    Ok(WriteRequest::builder()
        .delete_request(DeleteRequest::builder().set_key(Some(key)).build()?)
        .build())
}

fn is_condition_failure<E>(error: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

impl DynamoStore {
    /// A store over `table`, which must exist with the layout of [`DynamoStore::create_table`]
    /// (the SAM template creates it in production).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: Arc::from(table.into()),
            retry: RetryPolicy {
                max_attempts: 8,
                first_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_secs(5),
            },
            retention: Some(chrono::Duration::days(i64::from(DEFAULT_RETENTION_DAYS))),
            counters: Arc::default(),
        }
    }

    /// Days a resolved finding is kept before TTL removes it; `None` keeps resolved history.
    pub fn with_retention_days(mut self, days: Option<u32>) -> Self {
        self.retention = days.map(|d| chrono::Duration::days(i64::from(d)));
        self
    }

    /// How patiently unprocessed batch items and keys are retried (the SDK already retries
    /// whole failed requests; this covers the partial failures it reports as success).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests this store (and its clones) sent so far.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.counters.reads.load(Ordering::Relaxed),
            items_read: self.counters.items_read.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Creates the table with its three indexes, on-demand billing, and waits until it is
    /// active. For tests and local use; production tables come from the SAM template, which
    /// must declare the same keys and indexes.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), AwsError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let schema = |hash: &str, range: &str| -> Result<Vec<KeySchemaElement>, AwsError> {
            Ok(vec![
                KeySchemaElement::builder()
                    .attribute_name(hash)
                    .key_type(KeyType::Hash)
                    .build()?,
                KeySchemaElement::builder()
                    .attribute_name(range)
                    .key_type(KeyType::Range)
                    .build()?,
            ])
        };
        let index = |name: &str, hash: &str, range: &str| -> Result<GlobalSecondaryIndex, AwsError> {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(schema(hash, range)?))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?)
        };
        let mut definitions = Vec::new();
        for name in ["pk", "sk", "open_pk", "open_sk", "owner", "owner_sk", "group_key", "fp"] {
            definitions.push(attribute(name)?);
        }
        client
            .create_table()
            .table_name(name)
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(schema("pk", "sk")?))
            .global_secondary_indexes(index(OPEN_INDEX, "open_pk", "open_sk")?)
            .global_secondary_indexes(index(OWNER_INDEX, "owner", "owner_sk")?)
            .global_secondary_indexes(index(GROUP_INDEX, "group_key", "fp")?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| AwsError::dynamo("CreateTable", name, e))?;
        for attempt in 1..=120u32 {
            let described = client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| AwsError::dynamo("DescribeTable", name, e))?;
            let table = described.table();
            let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active)
                && table
                    .map(|t| t.global_secondary_indexes())
                    .unwrap_or_default()
                    .iter()
                    .all(|i| i.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
            if active {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(if attempt < 10 { 100 } else { 1000 })).await;
        }
        Err(AwsError::Request {
            service: "DynamoDB",
            operation: "DescribeTable",
            resource: name.to_owned(),
            message: "table did not become active within two minutes".into(),
        })
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, AwsError> {
        self.counters.read();
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::dynamo("GetItem", &self.table, e))?;
        self.counters.items(usize::from(output.item.is_some()));
        Ok(output.item)
    }

    async fn put_item(&self, item: Item) -> Result<(), AwsError> {
        self.counters.write();
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::dynamo("PutItem", &self.table, e))?;
        Ok(())
    }

    async fn delete_item(&self, key: Item) -> Result<(), AwsError> {
        self.counters.write();
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(|e| AwsError::dynamo("DeleteItem", &self.table, e))?;
        Ok(())
    }

    /// Every item of partition `pk` (optionally with sort keys starting with `prefix`), in sort
    /// key order, following `LastEvaluatedKey` to the end.
    async fn query_partition(&self, pk: &str, prefix: Option<&str>) -> Result<Vec<Item>, AwsError> {
        let mut request = self
            .client
            .query()
            .table_name(&*self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", s(pk));
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => request.key_condition_expression("pk = :pk"),
        };
        self.query_pages(request).await
    }

    /// Every item of one index partition.
    async fn query_index(&self, index: &str, hash_name: &str, hash: &str) -> Result<Vec<Item>, AwsError> {
        let request = self
            .client
            .query()
            .table_name(&*self.table)
            .index_name(index)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", hash_name)
            .expression_attribute_values(":h", s(hash));
        self.query_pages(request).await
    }

    async fn query_pages(
        &self,
        request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, AwsError> {
        self.all_pages(|start| {
            let page = request.clone().set_exclusive_start_key(start).send();
            async move {
                let page = page.await.map_err(|e| AwsError::dynamo("Query", &self.table, e))?;
                Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
            }
        })
        .await
    }

    /// Every finding item in the table: the admin listing's Scan, paginated.
    async fn scan_findings(&self) -> Result<Vec<Item>, AwsError> {
        let request = self
            .client
            .scan()
            .table_name(&*self.table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", s("FINDING#"));
        self.all_pages(|start| {
            let page = request.clone().set_exclusive_start_key(start).send();
            async move {
                let page = page.await.map_err(|e| AwsError::dynamo("Scan", &self.table, e))?;
                Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
            }
        })
        .await
    }

    /// Follows `LastEvaluatedKey` until the last page; `fetch` sends one page from a start key
    /// and returns its items and the next start key. Each page counts as one read request.
    async fn all_pages<F, Fut>(&self, mut fetch: F) -> Result<Vec<Item>, AwsError>
    where
        F: FnMut(Option<Item>) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<Item>, Option<Item>), AwsError>>,
    {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.counters.read();
            let (page, last) = fetch(start.take()).await?;
            self.counters.items(page.len());
            items.extend(page);
            match last {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// Writes `requests` in BatchWriteItem calls of 25, a few in flight at once, retrying
    /// `UnprocessedItems` with backoff. Keys must be unique within the call (DynamoDB rejects a
    /// batch that names one key twice).
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), AwsError> {
        let mut chunks: Vec<Vec<WriteRequest>> = Vec::new();
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            chunks.push(requests.by_ref().take(WRITE_BATCH).collect());
        }
        let mut running = tokio::task::JoinSet::new();
        for chunk in chunks {
            if running.len() >= WRITE_CONCURRENCY
                && let Some(done) = running.join_next().await
            {
                done.map_err(|e| AwsError::Build(format!("batch write task failed: {e}")))??;
            }
            let store = self.clone();
            running.spawn(async move { store.write_chunk(chunk).await });
        }
        while let Some(done) = running.join_next().await {
            done.map_err(|e| AwsError::Build(format!("batch write task failed: {e}")))??;
        }
        Ok(())
    }

    async fn write_chunk(&self, mut chunk: Vec<WriteRequest>) -> Result<(), AwsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.counters.write();
            let output = self
                .client
                .batch_write_item()
                .request_items(&*self.table, chunk)
                .send()
                .await
                .map_err(|e| AwsError::dynamo("BatchWriteItem", &self.table, e))?;
            chunk = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&*self.table))
                .unwrap_or_default();
            if chunk.is_empty() {
                return Ok(());
            }
            if attempt >= self.retry.max_attempts {
                return Err(AwsError::Unprocessed {
                    service: "DynamoDB",
                    operation: "BatchWriteItem",
                    resource: self.table.to_string(),
                    left: chunk.len(),
                    attempts: attempt,
                });
            }
            tracing::debug!(left = chunk.len(), attempt, table = %self.table, "retrying unprocessed items");
            tokio::time::sleep(self.retry.backoff(attempt)).await;
        }
    }

    /// Fetches `keys` (unique) with BatchGetItem, 100 per call, retrying `UnprocessedKeys`.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, AwsError> {
        let mut items = Vec::with_capacity(keys.len());
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let mut pending: Vec<Item> = keys.by_ref().take(GET_BATCH).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                self.counters.read();
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(|e| AwsError::dynamo("BatchGetItem", &self.table, e))?;
                if let Some(mut responses) = output.responses {
                    let page = responses.remove(&*self.table).unwrap_or_default();
                    self.counters.items(page.len());
                    items.extend(page);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&*self.table))
                    .map(|left| left.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= self.retry.max_attempts {
                    return Err(AwsError::Unprocessed {
                        service: "DynamoDB",
                        operation: "BatchGetItem",
                        resource: self.table.to_string(),
                        left: pending.len(),
                        attempts: attempt,
                    });
                }
                tokio::time::sleep(self.retry.backoff(attempt)).await;
            }
        }
        Ok(items)
    }

    /// The next value of a named counter (outbox and dead-letter ids), atomically.
    async fn next_id(&self, name: &str) -> Result<u64, AwsError> {
        self.counters.write();
        let output = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key("COUNTER", name)))
            .update_expression("ADD #next :one")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| AwsError::dynamo("UpdateItem", &self.table, e))?;
        let attributes = output.attributes.unwrap_or_default();
        get_n(&attributes, "next").map_err(|_| AwsError::malformed(format!("COUNTER/{name}"), "no numeric next"))
    }

    async fn put_document(&self, sk: String, body: String) -> Result<(), StoreError> {
        let mut item = key("DOC", sk);
        item.insert("body".into(), s(body));
        Ok(self.put_item(item).await?)
    }
}

impl FindingStore for DynamoStore {
    async fn findings(&self, fingerprints: &[Fingerprint]) -> Result<Vec<Finding>, StoreError> {
        let mut unique: Vec<Fingerprint> = fingerprints.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let keys = unique.iter().map(|f| key(finding_pk(f), "FINDING")).collect();
        let mut found: HashMap<Fingerprint, Finding> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let finding: Finding = decode_body(&item)?;
            found.insert(finding.fingerprint(), finding);
        }
        // Same order (and repeats) as the request, like the SQLite store's per-key lookups.
        Ok(fingerprints.iter().filter_map(|f| found.get(f).cloned()).collect())
    }

    /// Not atomic across the batch: DynamoDB has no transaction of this size. Each put replaces
    /// a whole item, so a retried save converges; the last copy of a repeated finding wins.
    async fn save_findings(&self, findings: &[Finding]) -> Result<(), StoreError> {
        let mut last: HashMap<Fingerprint, &Finding> = HashMap::with_capacity(findings.len());
        let mut order = Vec::with_capacity(findings.len());
        for finding in findings {
            if last.insert(finding.fingerprint(), finding).is_none() {
                order.push(finding.fingerprint());
            }
        }
        let mut requests = Vec::with_capacity(order.len());
        for fingerprint in order {
            requests.push(put(finding_item(last[&fingerprint], self.retention)?)?);
        }
        Ok(self.batch_write(requests).await?)
    }

    /// Queries an index whenever the filter allows: by owner (`by-owner`), else open-only or an
    /// open status (`open-by-due`, both partitions of every shard). Only a listing with neither
    /// is a Scan: an admin listing of everything, not a pipeline path.
    async fn list_findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError> {
        let items = if let Some(owner) = &filter.owner {
            self.query_index(OWNER_INDEX, "owner", owner.as_str()).await?
        } else if filter.open_only || filter.status.is_some_and(|s| s.is_open()) {
            // Only the partitions the asked-for status can be in.
            let prefixes: &[&str] = match filter.status {
                Some(Status::RiskAccepted) => &["ACCEPTED", "UNTRIAGED"],
                Some(_) => &["OPEN", "UNTRIAGED"],
                None => &["OPEN", "ACCEPTED", "UNTRIAGED"],
            };
            let mut items = Vec::new();
            for shard in 0..OPEN_SHARDS {
                for prefix in prefixes {
                    items.extend(
                        self.query_index(OPEN_INDEX, "open_pk", &format!("{prefix}#{shard}"))
                            .await?,
                    );
                }
            }
            items
        } else {
            self.scan_findings().await?
        };
        let mut findings = Vec::with_capacity(items.len());
        for item in &items {
            let finding: Finding = decode_body(item)?;
            if matches(filter, &finding) {
                findings.push(finding);
            }
        }
        findings.sort_by(|a, b| urgency(a).cmp(&urgency(b)));
        if let Some(limit) = filter.limit {
            findings.truncate(limit);
        }
        Ok(findings)
    }

    /// One key-range Query per shard of `open-by-due`: `open_sk <= "<deadline>#~"` reads only
    /// what is due, however many findings are open.
    async fn due_by(&self, deadline: chrono::DateTime<chrono::Utc>) -> Result<Vec<Finding>, StoreError> {
        let upper = format!("{}#~", time_text(deadline));
        let mut findings = Vec::new();
        for shard in 0..OPEN_SHARDS {
            for partition in ["OPEN", "ACCEPTED"] {
                let request = self
                    .client
                    .query()
                    .table_name(&*self.table)
                    .index_name(OPEN_INDEX)
                    .key_condition_expression("open_pk = :pk AND open_sk <= :upper")
                    .expression_attribute_values(":pk", s(format!("{partition}#{shard}")))
                    .expression_attribute_values(":upper", s(&upper));
                for item in self.query_pages(request).await? {
                    findings.push(decode_body::<Finding>(&item)?);
                }
            }
        }
        findings.sort_by_key(|f| (f.triage.as_ref().map(|t| t.due_at), f.fingerprint()));
        Ok(findings)
    }

    async fn group_findings(&self, group: &GroupKey) -> Result<Vec<Finding>, StoreError> {
        let items = self.query_index(GROUP_INDEX, "group_key", group.as_str()).await?;
        let mut findings = items
            .iter()
            .map(decode_body::<Finding>)
            .collect::<Result<Vec<_>, _>>()?;
        findings.sort_by_key(Finding::fingerprint);
        Ok(findings)
    }
}

impl RunStore for DynamoStore {
    async fn latest_run(&self, scope: &ScopeKey) -> Result<Option<ScanRun>, StoreError> {
        let items = self.query_partition(&format!("RUN#{scope}"), None).await?;
        let Some(head) = items.iter().find(|item| get_s(item, "sk").is_ok_and(|sk| sk == "HEAD")) else {
            return Ok(None);
        };
        let generation = get_s(head, "gen")?;
        let chunks: usize = get_n(head, "chunks")?;
        let count: usize = get_n(head, "count")?;
        let mut bytes = get_b(head, "fps")?.to_vec();
        let mut rest: BTreeMap<usize, &[u8]> = BTreeMap::new();
        let prefix = format!("CHUNK#{generation}#");
        for item in &items {
            if let Some(index) = get_s(item, "sk")?.strip_prefix(&prefix) {
                let index = index
                    .parse()
                    .map_err(|_| AwsError::malformed(item_name(item), "chunk number is not a number"))?;
                rest.insert(index, get_b(item, "fps")?);
            }
        }
        for index in 1..chunks {
            let chunk = rest
                .get(&index)
                .ok_or_else(|| AwsError::malformed(item_name(head), format!("chunk {index} of {chunks} is missing")))?;
            bytes.extend_from_slice(chunk);
        }
        if bytes.len() != count * 16 {
            return Err(AwsError::malformed(
                item_name(head),
                format!("{} fingerprint bytes for {count} fingerprints", bytes.len()),
            )
            .into());
        }
        let digest: [u8; 16] = get_b(head, "digest")?
            .try_into()
            .map_err(|_| AwsError::malformed(item_name(head), "digest is not 16 bytes"))?;
        let at = chrono::DateTime::parse_from_rfc3339(get_s(head, "at")?)
            .map_err(|e| AwsError::malformed(item_name(head), format!("at is not RFC 3339: {e}")))?
            .to_utc();
        Ok(Some(ScanRun {
            id: get_s(head, "run_id")?.to_owned(),
            scope: scope.clone(),
            at,
            received: get_n(head, "received")?,
            digest,
            fingerprints: bytes
                .chunks_exact(16)
                .map(|chunk| {
                    let mut array = [0u8; 16];
                    array.copy_from_slice(chunk);
                    Fingerprint::from_bytes(array)
                })
                .collect(),
        }))
    }

    /// One conditional UpdateItem when the fingerprint set is unchanged; otherwise the spill
    /// chunks (if any), then one PutItem of the head, then deletion of the previous chunks.
    async fn record_run(&self, run: &ScanRun) -> Result<(), StoreError> {
        let pk = format!("RUN#{}", run.scope);
        let bytes: Vec<u8> = run.fingerprints.iter().flat_map(|f| *f.as_bytes()).collect();
        let set_hash = fingerprint_set_hash(&bytes);
        let at = time_text(run.at);

        self.counters.write();
        let unchanged = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(&pk, "HEAD")))
            .update_expression("SET run_id = :id, #at = :at, received = :received, digest = :digest")
            .condition_expression("set_hash = :hash")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":id", s(&run.id))
            .expression_attribute_values(":at", s(&at))
            .expression_attribute_values(":received", n(run.received))
            .expression_attribute_values(":digest", AttributeValue::B(Blob::new(run.digest.to_vec())))
            .expression_attribute_values(":hash", AttributeValue::B(Blob::new(set_hash.to_vec())))
            .send()
            .await;
        match unchanged {
            Ok(_) => return Ok(()),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(AwsError::dynamo("UpdateItem", &self.table, e).into()),
        }

        let generation = hex16(&set_hash);
        let mut pieces = bytes.chunks(FINGERPRINTS_PER_ITEM * 16);
        let first = pieces.next().unwrap_or_default().to_vec();
        let mut spill = Vec::new();
        for (index, piece) in pieces.enumerate() {
            let mut item = key(&pk, format!("CHUNK#{generation}#{}", index + 1));
            item.insert("fps".into(), AttributeValue::B(Blob::new(piece.to_vec())));
            spill.push(put(item)?);
        }
        let chunks = spill.len() + 1;
        self.batch_write(spill).await?;

        let mut head = key(&pk, "HEAD");
        head.insert("run_id".into(), s(&run.id));
        head.insert("at".into(), s(at));
        head.insert("received".into(), n(run.received));
        head.insert("digest".into(), AttributeValue::B(Blob::new(run.digest.to_vec())));
        head.insert("set_hash".into(), AttributeValue::B(Blob::new(set_hash.to_vec())));
        head.insert("count".into(), n(run.fingerprints.len()));
        head.insert("chunks".into(), n(chunks));
        head.insert("gen".into(), s(&generation));
        head.insert("fps".into(), AttributeValue::B(Blob::new(first)));
        self.counters.write();
        let previous = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(head))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| AwsError::dynamo("PutItem", &self.table, e))?
            .attributes
            .unwrap_or_default();

        // The previous set's spill chunks are unreachable now; a crash here only leaves garbage
        // that readers ignore (they follow the head's generation).
        if let (Ok(old), Ok(old_chunks)) = (get_s(&previous, "gen"), get_n::<usize>(&previous, "chunks"))
            && old != generation
            && old_chunks > 1
        {
            let stale = (1..old_chunks)
                .map(|index| delete(key(&pk, format!("CHUNK#{old}#{index}"))))
                .collect::<Result<Vec<_>, _>>()?;
            self.batch_write(stale).await?;
        }
        Ok(())
    }
}

impl TicketStore for DynamoStore {
    async fn ticket(&self, group: &GroupKey) -> Result<Option<Ticket>, StoreError> {
        let item = self.get_item(key("TICKET", group.as_str())).await?;
        Ok(item.as_ref().map(decode_body).transpose()?)
    }

    async fn claim_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let mut item = key("TICKET", ticket.group.as_str());
        item.insert("body".into(), s(encode_body("ticket", ticket)?));
        self.counters.write();
        match self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::AlreadyExists {
                what: format!("ticket for {}", ticket.group),
            }),
            Err(e) => Err(AwsError::dynamo("PutItem", &self.table, e).into()),
        }
    }

    async fn save_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let mut item = key("TICKET", ticket.group.as_str());
        item.insert("body".into(), s(encode_body("ticket", ticket)?));
        Ok(self.put_item(item).await?)
    }

    async fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        // Sort keys are group keys: DynamoDB's byte order equals SQLite's `ORDER BY group_key`.
        let items = self.query_partition("TICKET", None).await?;
        Ok(items.iter().map(decode_body).collect::<Result<Vec<_>, _>>()?)
    }
}

impl OutboxStore for DynamoStore {
    /// A consistent read answers repeats without spending an id; a new entry is claimed with a
    /// conditional put on its dedupe key, so two racing writers record it once (the loser's id is
    /// skipped, leaving a gap, as ids are only ordered, never dense).
    async fn append_outbox(&self, entry: &OutboxEntry) -> Result<(u64, bool), StoreError> {
        let dedupe = key("OUTBOX", format!("DEDUPE#{}", entry.dedupe_key));
        if let Some(existing) = self.get_item(dedupe.clone()).await? {
            return Ok((get_n(&existing, "id")?, false));
        }
        let id = self.next_id("outbox").await?;
        let mut item = dedupe.clone();
        item.insert("id".into(), n(id));
        item.insert(
            "body".into(),
            s(encode_body("outbox entry", &OutboxEntry { id, ..entry.clone() })?),
        );
        self.counters.write();
        match self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok((id, true)),
            Err(e) if is_condition_failure(&e) => {
                let existing = self.get_item(dedupe).await?.ok_or_else(|| {
                    AwsError::malformed(format!("OUTBOX/DEDUPE#{}", entry.dedupe_key), "vanished after conflict")
                })?;
                Ok((get_n(&existing, "id")?, false))
            }
            Err(e) => Err(AwsError::dynamo("PutItem", &self.table, e).into()),
        }
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let items = self.query_partition("OUTBOX", Some("DEDUPE#")).await?;
        let mut entries = items
            .iter()
            .map(decode_body::<OutboxEntry>)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn outbox_entry(&self, dedupe_key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let item = self.get_item(key("OUTBOX", format!("DEDUPE#{dedupe_key}"))).await?;
        Ok(item.as_ref().map(decode_body).transpose()?)
    }
}

impl DeadLetterStore for DynamoStore {
    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let id = self.next_id("dead").await?;
        let mut item = key("DEAD", format!("ID#{id:020}"));
        let letter = DeadLetter { id, ..letter.clone() };
        item.insert("body".into(), s(encode_body("dead letter", &letter)?));
        Ok(self.put_item(item).await?)
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let items = self.query_partition("DEAD", Some("ID#")).await?;
        Ok(items.iter().map(decode_body).collect::<Result<Vec<_>, _>>()?)
    }

    async fn remove_dead_letter(&self, id: u64) -> Result<(), StoreError> {
        Ok(self.delete_item(key("DEAD", format!("ID#{id:020}"))).await?)
    }
}

/// Each imported document is one item, so one import is one atomic put. Limit: a document's
/// JSON must stay under ~390 KB (about 2,000 assets); larger inventories get a clear error.
impl ContextStore for DynamoStore {
    async fn org_context(&self) -> Result<OrgContext, StoreError> {
        // One paginated Query reads every document (sorted: assets#, codeowners#…, owners#).
        let items = self.query_partition("DOC", None).await?;
        let mut ownership = Ownership::default();
        let mut codeowners: Vec<OwnershipRule> = Vec::new();
        let mut assets: Vec<Asset> = Vec::new();
        for item in &items {
            let sk = get_s(item, "sk")?;
            if sk == "owners#" {
                ownership = decode_body(item)?;
            } else if sk == "assets#" {
                assets = decode_body(item)?;
            } else if sk.starts_with("codeowners#") {
                codeowners.extend(decode_body::<Vec<OwnershipRule>>(item)?);
            }
        }
        ownership.rules.extend(codeowners);
        Ok(OrgContext { ownership, assets })
    }

    async fn replace_ownership(&self, ownership: &Ownership) -> Result<(), StoreError> {
        let mut ownership = ownership.clone();
        ownership
            .rules
            .retain(|r| !matches!(r.matcher, Matcher::Codeowners { .. }));
        let body = encode_body("owners document", &ownership)?;
        self.put_document("owners#".into(), body).await
    }

    async fn replace_codeowners(&self, repo: &AssetKey, rules: &[OwnershipRule]) -> Result<(), StoreError> {
        let body = encode_body(&format!("CODEOWNERS rules of {repo}"), &rules)?;
        self.put_document(format!("codeowners#{repo}"), body).await
    }

    async fn replace_assets(&self, assets: &[Asset]) -> Result<(), StoreError> {
        let body = encode_body("assets document", &assets)?;
        self.put_document("assets#".into(), body).await
    }
}

impl IntelStore for DynamoStore {
    /// Reads the catalog (one partition), then writes only the difference.
    async fn replace_kev(&self, entries: &[KevEntry]) -> Result<Vec<String>, StoreError> {
        let mut before: HashMap<String, String> = HashMap::new();
        for item in self.query_partition("KEV", None).await? {
            before.insert(get_s(&item, "sk")?.to_owned(), get_s(&item, "body")?.to_owned());
        }
        let mut changed = Vec::new();
        let mut after: HashMap<String, String> = HashMap::with_capacity(entries.len());
        for entry in entries {
            let body = serde_json::to_string(entry).map_err(|e| StoreError::Unknown(e.into()))?;
            if before.get(&entry.cve) != Some(&body) {
                changed.push(entry.cve.clone());
            }
            after.insert(entry.cve.clone(), body);
        }
        changed.extend(before.keys().filter(|cve| !after.contains_key(*cve)).cloned());
        let mut requests = Vec::new();
        for (cve, body) in &after {
            if before.get(cve) != Some(body) {
                let mut item = key("KEV", cve);
                item.insert("body".into(), s(body));
                requests.push(put(item)?);
            }
        }
        for cve in before.keys().filter(|cve| !after.contains_key(*cve)) {
            requests.push(delete(key("KEV", cve))?);
        }
        self.batch_write(requests).await?;
        changed.sort();
        Ok(changed)
    }

    /// Reads the stored scores (16 partitions, paginated), then writes only rows that changed
    /// and deletes rows the day's file no longer has.
    async fn replace_epss(&self, scores: &[EpssScore]) -> Result<Vec<String>, StoreError> {
        let mut before: HashMap<String, (f64, f64)> = HashMap::new();
        for shard in 0..EPSS_SHARDS {
            for item in self.query_partition(&format!("EPSS#{shard}"), None).await? {
                before.insert(
                    get_s(&item, "sk")?.to_owned(),
                    (get_n(&item, "p")?, get_n(&item, "pct")?),
                );
            }
        }
        let mut changed = Vec::new();
        let mut after: HashMap<&str, (f64, f64)> = HashMap::with_capacity(scores.len());
        for score in scores {
            let now = (f64::from(score.probability), f64::from(score.percentile));
            if before.get(&score.cve) != Some(&now) {
                changed.push(score.cve.clone());
            }
            after.insert(score.cve.as_str(), now);
        }
        changed.extend(before.keys().filter(|cve| !after.contains_key(cve.as_str())).cloned());
        let mut requests = Vec::new();
        for (cve, now) in &after {
            if before.get(*cve) != Some(now) {
                let mut item = key(epss_pk(cve), *cve);
                // f64's Display is the shortest text that parses back to the same value, so a
                // stored score compares equal to itself on the next refresh.
                item.insert("p".into(), n(now.0));
                item.insert("pct".into(), n(now.1));
                requests.push(put(item)?);
            }
        }
        for cve in before.keys().filter(|cve| !after.contains_key(cve.as_str())) {
            requests.push(delete(key(epss_pk(cve), cve))?);
        }
        self.batch_write(requests).await?;
        changed.sort();
        changed.dedup();
        Ok(changed)
    }

    async fn intel(&self, cves: &[String]) -> Result<HashMap<String, CveIntel>, StoreError> {
        let unique: HashSet<&str> = cves.iter().map(String::as_str).collect();
        let mut keys = Vec::with_capacity(unique.len() * 2);
        for cve in &unique {
            keys.push(key("KEV", *cve));
            keys.push(key(epss_pk(cve), *cve));
        }
        let mut out: HashMap<String, CveIntel> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let cve = get_s(&item, "sk")?.to_owned();
            let pk = get_s(&item, "pk")?;
            if pk == "KEV" {
                let entry: KevEntry = decode_body(&item)?;
                out.entry(cve).or_default().kev = Some(entry);
            } else {
                let probability: f64 = get_n(&item, "p")?;
                let percentile: f64 = get_n(&item, "pct")?;
                out.entry(cve.clone()).or_default().epss = Some(EpssScore {
                    cve: cve.clone(),
                    probability: probability as f32,
                    percentile: percentile as f32,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::time::Duration;

    const TABLE: &str = "muster-test";

    fn finding(status: muster_core::model::Status) -> Finding {
        use muster_core::model::{AssetKey, Detection, FindingKind, Location, Severity, Tool};
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .to_utc();
        Finding {
            detection: Detection::new(
                Fingerprint::from_bytes([3; 16]),
                FindingKind::Code,
                "t".into(),
                Severity::High,
                Location::Unspecified,
            ),
            tool: Tool {
                name: "CodeQL".into(),
                version: None,
            },
            asset: AssetKey::parse("github.com/acme/shop").unwrap(),
            seen_by: vec![],
            status,
            first_seen: at,
            last_seen: at,
            resolved_at: (!status.is_open()).then_some(at),
            triage: None,
            acceptance: None,
            clock_start: None,
            rerouted: None,
            timeline: vec![],
        }
    }

    #[test]
    fn closed_findings_carry_the_ttl_and_open_ones_do_not() {
        use muster_core::model::Status;
        let year = Some(chrono::Duration::days(365));
        let resolved = finding_item(&finding(Status::Resolved), year).unwrap();
        let expected = chrono::DateTime::parse_from_rfc3339("2027-11-01T10:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(
            resolved.get(TTL_ATTRIBUTE),
            Some(&AttributeValue::N(expected.to_string()))
        );
        assert!(
            finding_item(&finding(Status::Suppressed), year)
                .unwrap()
                .contains_key(TTL_ATTRIBUTE)
        );
        assert!(
            !finding_item(&finding(Status::Open), year)
                .unwrap()
                .contains_key(TTL_ATTRIBUTE)
        );
        assert!(
            !finding_item(&finding(Status::Resolved), None)
                .unwrap()
                .contains_key(TTL_ATTRIBUTE)
        );
    }

    fn quick(store: DynamoStore) -> DynamoStore {
        store.with_retry(RetryPolicy {
            max_attempts: 4,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        })
    }

    fn puts(count: usize) -> Vec<WriteRequest> {
        (0..count).map(|i| put(key("T", format!("{i:03}"))).unwrap()).collect()
    }

    fn requested(input: &aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput) -> usize {
        input.request_items().and_then(|r| r.get(TABLE)).map_or(0, Vec::len)
    }

    #[tokio::test]
    async fn unprocessed_items_are_retried_until_written() {
        // GIVEN DynamoDB throttles 3 items of the first batch of 25, then accepts everything
        let throttled = mock!(Client::batch_write_item)
            .match_requests(|input| requested(input) == 25)
            .sequence()
            .output(|| {
                BatchWriteItemOutput::builder()
                    .unprocessed_items(TABLE, puts(3))
                    .build()
            })
            .output(|| BatchWriteItemOutput::builder().build())
            .repeatedly()
            .build();
        let retried = mock!(Client::batch_write_item)
            .match_requests(|input| requested(input) < 25)
            .sequence()
            .output(|| BatchWriteItemOutput::builder().build())
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&throttled, &retried]);
        let store = quick(DynamoStore::new(client, TABLE));

        // WHEN 30 items are written
        store.batch_write(puts(30)).await.unwrap();

        // THEN: one full batch, one batch of 5, and one retry of the 3 throttled items
        assert_eq!(throttled.num_calls(), 1);
        assert_eq!(retried.num_calls(), 2);
        assert_eq!(store.request_counts().writes, 3);
    }

    #[tokio::test]
    async fn items_unprocessed_through_every_attempt_are_an_error() {
        let always = mock!(Client::batch_write_item)
            .sequence()
            .output(|| {
                BatchWriteItemOutput::builder()
                    .unprocessed_items(TABLE, puts(1))
                    .build()
            })
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&always]);
        let store = quick(DynamoStore::new(client, TABLE));

        let error = store.batch_write(puts(2)).await.unwrap_err();

        assert!(
            matches!(
                error,
                AwsError::Unprocessed {
                    left: 1,
                    attempts: 4,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(always.num_calls(), 4, "bounded by the retry policy");
    }

    #[tokio::test]
    async fn unprocessed_keys_are_fetched_again() {
        let keys =
            |range: std::ops::Range<usize>| -> Vec<Item> { range.map(|i| key("T", format!("{i:03}"))).collect() };
        let rule = mock!(Client::batch_get_item)
            .sequence()
            .output(move || {
                BatchGetItemOutput::builder()
                    .responses(TABLE, keys(0..60))
                    .unprocessed_keys(
                        TABLE,
                        KeysAndAttributes::builder()
                            .set_keys(Some(keys(60..100)))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .output(move || BatchGetItemOutput::builder().responses(TABLE, keys(60..100)).build())
            .output(move || BatchGetItemOutput::builder().responses(TABLE, keys(100..150)).build())
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]);
        let store = quick(DynamoStore::new(client, TABLE));

        let items = store.batch_get(keys(0..150)).await.unwrap();

        assert_eq!(items.len(), 150);
        assert_eq!(rule.num_calls(), 3, "100 keys, their 40 unprocessed, then the last 50");
    }

    #[test]
    fn epss_shards_are_stable_and_spread() {
        assert_eq!(epss_pk("CVE-2024-3094"), epss_pk("CVE-2024-3094"));
        let shards: HashSet<String> = (0..1000).map(|i| epss_pk(&format!("CVE-2024-{i}"))).collect();
        assert_eq!(shards.len(), usize::from(EPSS_SHARDS));
    }
}
