//! The embedded store: one SQLite file in WAL mode, migrated in code at open.
//!
//! Findings are kept as JSON documents with the columns the pipeline filters on beside them.
//! A server's port calls run on tokio's blocking pool, so a slow disk never stalls its other
//! requests; one-shot commands run them on the caller's thread (`StoreThreads`). A batch is one
//! transaction: either all of it is stored or none. Each call's transaction is a savepoint, so
//! calls nest inside a one-shot command's batch of pipeline messages (`begin_batch`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use muster_core::assets::Asset;
use muster_core::intel::{EpssScore, KevEntry};
use muster_core::messages::Message;
use muster_core::model::AssetKey;
use muster_core::model::{Finding, Fingerprint, GroupKey, ScanRun, ScopeKey, Ticket, TicketState};
use muster_core::ownership::{Matcher, Ownership, OwnershipRule};
use muster_core::ports::{
    ContextStore, CveIntel, DeadLetter, DeadLetterStore, FindingFilter, FindingStore, IntelStore, OrgContext,
    OutboxEntry, OutboxStore, RunStore, StoreError, TicketStore,
};
use rusqlite::{Connection, OptionalExtension, params};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    is_open     INTEGER NOT NULL,
    severity    TEXT NOT NULL,
    tier        TEXT,
    owner       TEXT,
    group_key   TEXT,
    due_at      TEXT,
    asset       TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX findings_group ON findings(group_key);
CREATE INDEX findings_owner ON findings(owner, is_open);
CREATE INDEX findings_open_due ON findings(due_at) WHERE is_open = 1;

CREATE TABLE scopes (
    scope        TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL,
    at           TEXT NOT NULL,
    received     INTEGER NOT NULL,
    digest       BLOB NOT NULL,
    fingerprints BLOB NOT NULL
);
CREATE TABLE runs (
    scope    TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    at       TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (scope, run_id)
);

CREATE TABLE tickets (
    group_key  TEXT PRIMARY KEY,
    tracker    TEXT NOT NULL,
    key        TEXT,
    url        TEXT,
    state      TEXT NOT NULL,
    digest     TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE dead_letters (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    message   TEXT NOT NULL,
    error     TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    failed_at TEXT NOT NULL
);
"#,
    r#"
-- Triage decided the owner by default, no ownership rule matched: `muster findings --unowned`.
ALTER TABLE findings ADD COLUMN unowned INTEGER NOT NULL DEFAULT 0;

-- Imported context files, each the whole truth of its kind: kind 'owners' (name ''),
-- 'codeowners' (name = repository), 'assets' (name '').
CREATE TABLE documents (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE kev (
    cve  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE epss (
    cve         TEXT PRIMARY KEY,
    probability REAL NOT NULL,
    percentile  REAL NOT NULL
);
"#,
    r#"
-- A ticket's acknowledgement (JSON): silences the SLA escalation ladder until its end.
ALTER TABLE tickets ADD COLUMN acknowledged TEXT;
"#,
    r#"
-- What the SLA sweep last told about a ticket's group (JSON: rung and instant).
ALTER TABLE tickets ADD COLUMN told TEXT;
"#,
    r#"
-- The group as the ticket stage last synced it (JSON): what the notify stage alerts with.
ALTER TABLE tickets ADD COLUMN summary TEXT;
"#,
];

/// A SQLite-backed `Store`. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct SqliteStore {
    session: Arc<Mutex<Session>>,
    threads: StoreThreads,
}

/// The connection, and whether its calls run inside a batch (`SqliteStore::begin_batch`).
struct Session {
    conn: Connection,
    batch: BatchState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchState {
    Off,
    Open,
    /// SQLite rolled the batch back (it does after some I/O errors): every call fails until
    /// `commit_batch` reports the loss, so no later write lands without the ones it follows.
    Lost,
}

impl Session {
    /// Notices a batch SQLite rolled back, and refuses work while one is lost.
    fn check_batch(&mut self) -> anyhow::Result<()> {
        if self.batch == BatchState::Open && self.conn.is_autocommit() {
            self.batch = BatchState::Lost;
        }
        anyhow::ensure!(
            self.batch != BatchState::Lost,
            "the store's batch was rolled back; its messages will run again"
        );
        Ok(())
    }
}

/// Where the store's SQLite calls run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreThreads {
    /// Tokio's blocking pool: a slow disk never holds up a server's other requests.
    #[default]
    BlockingPool,
    /// The calling task's thread, for one-shot commands whose runtime serves nothing else:
    /// there the two thread hand-offs of a pool call cost more than most calls themselves, and
    /// a 20k-result report makes ~8,000 of them (BENCHMARKS.md, "Against the Python peers").
    Caller,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder for {}", path.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open database {}", path.display()))?;
        // 16 KiB pages (SQLite's default is 4 KiB): a finding's JSON body is 1.5–2.5 KB, so a
        // 4 KiB page held one and left the rest slack, and every write moved twice the bytes.
        // Only a new file takes it (before WAL mode is set); existing files keep their size.
        conn.pragma_update(None, "page_size", 16_384)
            .context("cannot set the database's page size")?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .context("cannot switch the database to WAL mode")?;
        Self::prepare(conn).with_context(|| format!("cannot prepare database {}", path.display()))
    }

    /// A private database that lives as long as the store (tests, dry runs).
    pub fn open_in_memory() -> anyhow::Result<Self> {
        Self::prepare(Connection::open_in_memory().context("cannot open an in-memory database")?)
    }

    fn prepare(mut conn: Connection) -> anyhow::Result<Self> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 32 MiB of page cache (default 2 MiB): a large scan's lookups and upserts otherwise
        // re-read the same B-tree pages from the OS hundreds of thousands of times.
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Every statement of the pipeline's paths stays prepared (rusqlite's default keeps 16).
        conn.set_prepared_statement_cache_capacity(64);
        migrate(&mut conn)?;
        Ok(Self {
            session: Arc::new(Mutex::new(Session {
                conn,
                batch: BatchState::Off,
            })),
            threads: StoreThreads::default(),
        })
    }

    /// Opens a batch: until `commit_batch`, every call's writes join one write transaction
    /// (each call's own transaction is a savepoint inside it). A one-shot command's pipeline
    /// makes ~3 small write transactions per remediation group, each of which writes its
    /// pages to the WAL again; a batch writes each page once per commit.
    ///
    /// Only for work whose every effect lands in this database (outbox sinks, no server
    /// answering requests from it): a ticket created in Jira inside a batch would outlive a
    /// rollback of the claim that must be durable before it.
    pub async fn begin_batch(&self) -> Result<(), StoreError> {
        self.session(|session| {
            anyhow::ensure!(session.batch == BatchState::Off, "a store batch is already open");
            session.conn.execute_batch("BEGIN IMMEDIATE")?;
            session.batch = BatchState::Open;
            Ok(())
        })
        .await
    }

    /// Commits the open batch. An error means none of the batch's writes may have been kept
    /// (SQLite rolls a transaction back by itself after some errors, such as a full disk),
    /// so its work must be redone; the store is out of the batch either way.
    pub async fn commit_batch(&self) -> Result<(), StoreError> {
        self.session(|session| {
            let state = std::mem::replace(&mut session.batch, BatchState::Off);
            let conn = &session.conn;
            anyhow::ensure!(
                state == BatchState::Open && !conn.is_autocommit(),
                "the store's batch was rolled back before its commit"
            );
            if let Err(error) = conn.execute_batch("COMMIT") {
                if !conn.is_autocommit() {
                    conn.execute_batch("ROLLBACK")?;
                }
                return Err(error.into());
            }
            Ok(())
        })
        .await
    }

    /// Rolls the open batch back, as SQLite does by itself after some I/O errors: every later
    /// call fails until `commit_batch` reports the loss (tests lose a batch on purpose with it).
    pub async fn abort_batch(&self) -> Result<(), StoreError> {
        self.session(|session| {
            if !session.conn.is_autocommit() {
                session.conn.execute_batch("ROLLBACK")?;
            }
            if session.batch == BatchState::Open {
                session.batch = BatchState::Lost;
            }
            Ok(())
        })
        .await
    }

    /// Whether the open batch was lost, so its work can be redone before more is built on it.
    pub async fn batch_lost(&self) -> bool {
        self.session(|session| Ok(session.check_batch().is_err()))
            .await
            .unwrap_or(true)
    }

    /// The same store, with its calls run on `threads`.
    pub fn on_threads(self, threads: StoreThreads) -> Self {
        Self { threads, ..self }
    }

    /// Runs `work` with the connection, on the threads the store was opened for; inside a
    /// batch SQLite has lost, it fails instead.
    async fn call<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<R> + Send + 'static,
    {
        self.session(move |session| {
            session.check_batch()?;
            let out = work(&mut session.conn);
            // A failed statement may have taken the batch with it.
            let _ = session.check_batch();
            out
        })
        .await
    }

    /// Runs `work` with the session, on the threads the store was opened for.
    async fn session<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Session) -> anyhow::Result<R> + Send + 'static,
    {
        fn locked<R>(
            session: &Mutex<Session>,
            work: impl FnOnce(&mut Session) -> anyhow::Result<R>,
        ) -> anyhow::Result<R> {
            // A panic while holding the lock leaves SQLite consistent (transactions roll back),
            // so a poisoned lock is safe to reuse.
            let mut guard = session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        }
        let outcome = match self.threads {
            StoreThreads::Caller => locked(&self.session, work),
            StoreThreads::BlockingPool => {
                let session = Arc::clone(&self.session);
                tokio::task::spawn_blocking(move || locked(&session, work))
                    .await
                    .map_err(|e| StoreError::Unknown(anyhow::anyhow!("store task failed: {e}")))?
            }
        };
        outcome.map_err(StoreError::Unknown)
    }

    /// `call` for work of several reads, run as one read transaction: the reads see one
    /// snapshot, and SQLite takes and drops its WAL read lock once instead of once per
    /// statement (a 20k-result Trivy ingest's CVE and finding lookups made ~60k `fcntl` calls).
    async fn read<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<R> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let out = work(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let applied = usize::try_from(applied).context("negative schema version")?;
    if applied > MIGRATIONS.len() {
        anyhow::bail!(
            "the database was written by a newer muster (schema {applied}, this build knows {}); upgrade muster",
            MIGRATIONS.len()
        );
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {} failed", index + 1))?;
        tx.pragma_update(None, "user_version", i64::try_from(index + 1)?)?;
        tx.commit()?;
    }
    Ok(())
}

fn decode_finding(body: &str) -> anyhow::Result<Finding> {
    serde_json::from_str(body).context("stored finding is not valid JSON for this version")
}

/// Decodes a row whose first column is a finding's body, straight from SQLite's buffer rather
/// than through a `String` copy of it.
fn decode_finding_row(row: &rusqlite::Row<'_>) -> anyhow::Result<Finding> {
    decode_finding(row.get_ref(0)?.as_str()?)
}

/// Every row of `rows`, through `decode_finding_row`.
fn decode_finding_rows(mut rows: rusqlite::Rows<'_>) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    while let Some(row) = rows.next()? {
        findings.push(decode_finding_row(row)?);
    }
    Ok(findings)
}

fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("stored time {text:?} is not RFC 3339"))?
        .to_utc())
}

/// One finding as the columns of its row.
struct FindingRow {
    fingerprint: [u8; 16],
    status: &'static str,
    is_open: bool,
    severity: &'static str,
    tier: Option<&'static str>,
    owner: Option<String>,
    group_key: Option<String>,
    due_at: Option<String>,
    asset: String,
    first_seen: String,
    unowned: bool,
    body: String,
}

impl FindingRow {
    fn new(finding: &Finding) -> Result<Self, StoreError> {
        let triage = finding.triage.as_ref();
        Ok(Self {
            fingerprint: *finding.fingerprint().as_bytes(),
            status: finding.status.as_str(),
            is_open: finding.status.is_open(),
            severity: finding.detection.severity.as_str(),
            tier: triage.map(|t| t.risk.tier.as_str()),
            owner: triage.map(|t| t.owner.to_string()),
            group_key: triage.map(|t| t.group.to_string()),
            due_at: triage.map(|t| time_text(t.due_at)),
            asset: finding.asset.to_string(),
            first_seen: time_text(finding.first_seen),
            unowned: triage.is_some_and(|t| t.is_unowned()),
            body: serde_json::to_string(finding).map_err(|e| StoreError::Unknown(e.into()))?,
        })
    }
}

impl FindingStore for SqliteStore {
    async fn findings(&self, fingerprints: &[Fingerprint]) -> Result<Vec<Finding>, StoreError> {
        let keys: Vec<[u8; 16]> = fingerprints.iter().map(|f| *f.as_bytes()).collect();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached("SELECT body FROM findings WHERE fingerprint = ?1")?;
            let mut out = Vec::with_capacity(keys.len());
            for key in &keys {
                if let Some(row) = statement.query([&key[..]])?.next()? {
                    out.push(decode_finding_row(row)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn save_findings(&self, findings: &[Finding]) -> Result<(), StoreError> {
        if findings.is_empty() {
            return Ok(());
        }
        let rows = findings.iter().map(FindingRow::new).collect::<Result<Vec<_>, _>>()?;
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            {
                let mut statement = tx.prepare_cached(
                    "INSERT INTO findings (fingerprint, status, is_open, severity, tier, owner, group_key, due_at, asset, first_seen, unowned, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (fingerprint) DO UPDATE SET
                        status = excluded.status, is_open = excluded.is_open, severity = excluded.severity,
                        tier = excluded.tier, owner = excluded.owner, group_key = excluded.group_key,
                        due_at = excluded.due_at, asset = excluded.asset, first_seen = excluded.first_seen,
                        unowned = excluded.unowned, body = excluded.body",
                )?;
                for row in &rows {
                    statement.execute(params![
                        &row.fingerprint[..],
                        row.status,
                        row.is_open,
                        row.severity,
                        row.tier,
                        row.owner,
                        row.group_key,
                        row.due_at,
                        row.asset,
                        row.first_seen,
                        row.unowned,
                        row.body,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn due_by(&self, deadline: DateTime<Utc>) -> Result<Vec<Finding>, StoreError> {
        let deadline = time_text(deadline);
        self.call(move |conn| {
            // Served by the partial index findings_open_due.
            let mut statement = conn.prepare(
                "SELECT body FROM findings WHERE is_open = 1 AND due_at IS NOT NULL AND due_at <= ?1 \
                 ORDER BY due_at, fingerprint",
            )?;
            decode_finding_rows(statement.query([deadline])?)
        })
        .await
    }

    async fn list_findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(status) = filter.status {
            clauses.push("status = ?");
            values.push(status.as_str().to_owned());
        }
        if filter.open_only {
            clauses.push("is_open = 1");
        }
        if let Some(owner) = &filter.owner {
            clauses.push("owner = ?");
            values.push(owner.to_string());
        }
        if let Some(tier) = filter.tier {
            clauses.push("tier = ?");
            values.push(tier.as_str().to_owned());
        }
        if filter.unowned {
            clauses.push("unowned = 1");
        }
        if let Some(severity) = filter.severity {
            clauses.push("severity = ?");
            values.push(severity.as_str().to_owned());
        }
        let mut sql = String::from("SELECT body FROM findings");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        // Most urgent first: tier, then due date, then a stable order.
        sql.push_str(" ORDER BY tier IS NULL, tier, due_at, fingerprint");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.call(move |conn| {
            let mut statement = conn.prepare(&sql)?;
            decode_finding_rows(statement.query(rusqlite::params_from_iter(values.iter()))?)
        })
        .await
    }

    async fn group_findings(&self, group: &GroupKey) -> Result<Vec<Finding>, StoreError> {
        let group = group.to_string();
        self.call(move |conn| {
            let mut statement =
                conn.prepare_cached("SELECT body FROM findings WHERE group_key = ?1 ORDER BY fingerprint")?;
            decode_finding_rows(statement.query([group])?)
        })
        .await
    }
}

fn encode_fingerprints(fingerprints: &[Fingerprint]) -> Vec<u8> {
    fingerprints.iter().flat_map(|f| *f.as_bytes()).collect()
}

fn decode_fingerprints(bytes: &[u8]) -> anyhow::Result<Vec<Fingerprint>> {
    if !bytes.len().is_multiple_of(16) {
        anyhow::bail!("stored fingerprint set has {} bytes, not a multiple of 16", bytes.len());
    }
    Ok(bytes
        .chunks_exact(16)
        .map(|chunk| {
            let mut array = [0u8; 16];
            array.copy_from_slice(chunk);
            Fingerprint::from_bytes(array)
        })
        .collect())
}

impl RunStore for SqliteStore {
    async fn latest_run(&self, scope: &ScopeKey) -> Result<Option<ScanRun>, StoreError> {
        let scope = scope.clone();
        self.call(move |conn| {
            let row = conn
                .prepare_cached("SELECT run_id, at, received, digest, fingerprints FROM scopes WHERE scope = ?1")?
                .query_row([scope.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .optional()?;
            let Some((id, at, received, digest, fingerprints)) = row else {
                return Ok(None);
            };
            let digest: [u8; 16] = digest
                .try_into()
                .map_err(|_| anyhow::anyhow!("stored run digest of {scope} is not 16 bytes"))?;
            Ok(Some(ScanRun {
                id,
                at: parse_time(&at)?,
                received: u64::try_from(received).unwrap_or_default(),
                digest,
                fingerprints: decode_fingerprints(&fingerprints)?,
                scope,
            }))
        })
        .await
    }

    async fn record_run(&self, run: &ScanRun) -> Result<(), StoreError> {
        let scope = run.scope.to_string();
        let id = run.id.clone();
        let at = time_text(run.at);
        let received = i64::try_from(run.received).unwrap_or(i64::MAX);
        let digest = run.digest.to_vec();
        let fingerprints = encode_fingerprints(&run.fingerprints);
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            tx.execute(
                "INSERT INTO scopes (scope, run_id, at, received, digest, fingerprints) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (scope) DO UPDATE SET run_id = excluded.run_id, at = excluded.at,
                    received = excluded.received, digest = excluded.digest, fingerprints = excluded.fingerprints",
                params![scope, id, at, received, digest, fingerprints],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO runs (scope, run_id, at, received) VALUES (?1, ?2, ?3, ?4)",
                params![scope, id, at, received],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

type TicketColumns = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn ticket_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn decode_ticket(
    (group, tracker, key, url, state, digest, updated_at, acknowledged, told, summary): TicketColumns,
) -> anyhow::Result<Ticket> {
    Ok(Ticket {
        acknowledged: acknowledged
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .context("stored acknowledgement is not JSON")?,
        told: told
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .context("stored sweep state is not JSON")?,
        summary: summary
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .context("stored group summary is not JSON")?,
        group: GroupKey::parse(&group)?,
        tracker,
        key,
        url,
        state: TicketState::parse(&state)?,
        digest,
        updated_at: parse_time(&updated_at)?,
    })
}

/// A ticket's JSON columns, encoded before the store's lock is taken.
struct TicketJson {
    acknowledged: Option<String>,
    told: Option<String>,
    summary: Option<String>,
}

impl TicketJson {
    fn new(ticket: &Ticket) -> Result<Self, StoreError> {
        fn encode<T: serde::Serialize>(value: Option<&T>) -> Result<Option<String>, StoreError> {
            value
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Unknown(e.into()))
        }
        Ok(Self {
            acknowledged: encode(ticket.acknowledged.as_ref())?,
            told: encode(ticket.told.as_ref())?,
            summary: encode(ticket.summary.as_ref())?,
        })
    }
}

const TICKET_COLUMNS: &str = "group_key, tracker, key, url, state, digest, updated_at, acknowledged, told, summary";

/// `{insert} (columns) VALUES (…) {conflict}` for one ticket; the rows changed (0 when a claim
/// finds the group taken).
fn write_ticket(
    conn: &Connection,
    insert: &str,
    conflict: &str,
    ticket: &Ticket,
    json: &TicketJson,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(&format!(
        "{insert} ({TICKET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) {conflict}"
    ))?
    .execute(params![
        ticket.group.as_str(),
        ticket.tracker,
        ticket.key,
        ticket.url,
        ticket.state.as_str(),
        ticket.digest,
        time_text(ticket.updated_at),
        json.acknowledged,
        json.told,
        json.summary
    ])
}

impl TicketStore for SqliteStore {
    async fn ticket(&self, group: &GroupKey) -> Result<Option<Ticket>, StoreError> {
        let group = group.to_string();
        self.call(move |conn| {
            conn.prepare_cached(&format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE group_key = ?1"))?
                .query_row([group], ticket_from_row)
                .optional()?
                .map(decode_ticket)
                .transpose()
        })
        .await
    }

    async fn claim_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let ticket = ticket.clone();
        let json = TicketJson::new(&ticket)?;
        let inserted = self
            .call(move |conn| {
                let changed = write_ticket(
                    conn,
                    "INSERT INTO tickets",
                    "ON CONFLICT (group_key) DO NOTHING",
                    &ticket,
                    &json,
                )?;
                Ok((changed == 1, ticket.group))
            })
            .await?;
        match inserted {
            (true, _) => Ok(()),
            (false, group) => Err(StoreError::AlreadyExists {
                what: format!("ticket for {group}"),
            }),
        }
    }

    async fn save_ticket(&self, ticket: &Ticket) -> Result<(), StoreError> {
        let ticket = ticket.clone();
        let json = TicketJson::new(&ticket)?;
        self.call(move |conn| {
            write_ticket(conn, "INSERT OR REPLACE INTO tickets", "", &ticket, &json)?;
            Ok(())
        })
        .await
    }

    async fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.call(|conn| {
            let mut statement = conn.prepare(&format!("SELECT {TICKET_COLUMNS} FROM tickets ORDER BY group_key"))?;
            let rows = statement
                .query_map([], ticket_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(decode_ticket).collect()
        })
        .await
    }
}

impl OutboxStore for SqliteStore {
    async fn append_outbox(&self, entry: &OutboxEntry) -> Result<(u64, bool), StoreError> {
        let entry = entry.clone();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let inserted = tx.prepare_cached(
                "INSERT INTO outbox (kind, action, target, dedupe_key, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )?.execute(
                params![
                    entry.kind,
                    entry.action,
                    entry.target,
                    entry.dedupe_key,
                    entry.payload.to_string(),
                    time_text(entry.created_at)
                ],
            )? == 1;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM outbox WHERE dedupe_key = ?1")?
                .query_row([&entry.dedupe_key], |row| row.get(0))?;
            tx.commit()?;
            Ok((u64::try_from(id).unwrap_or_default(), inserted))
        })
        .await
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.call(|conn| {
            let mut statement = conn.prepare(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"))?;
            let rows = statement
                .query_map([], outbox_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(decode_outbox).collect()
        })
        .await
    }

    async fn outbox_entry(&self, dedupe_key: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let dedupe_key = dedupe_key.to_owned();
        self.call(move |conn| {
            conn.prepare_cached(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE dedupe_key = ?1"))?
                .query_row([dedupe_key], outbox_from_row)
                .optional()?
                .map(decode_outbox)
                .transpose()
        })
        .await
    }
}

const OUTBOX_COLUMNS: &str = "id, kind, action, target, dedupe_key, payload, created_at";

type OutboxColumns = (i64, String, String, String, String, String, String);

fn outbox_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

fn decode_outbox(
    (id, kind, action, target, dedupe_key, payload, created_at): OutboxColumns,
) -> anyhow::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: u64::try_from(id).unwrap_or_default(),
        kind,
        action,
        target,
        dedupe_key,
        payload: serde_json::from_str(&payload).context("stored outbox payload is not JSON")?,
        created_at: parse_time(&created_at)?,
    })
}

impl DeadLetterStore for SqliteStore {
    async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let message = serde_json::to_string(&letter.message).map_err(|e| StoreError::Unknown(e.into()))?;
        let error = letter.error.clone();
        let attempts = letter.attempts;
        let failed_at = time_text(letter.failed_at);
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO dead_letters (message, error, attempts, failed_at) VALUES (?1, ?2, ?3, ?4)",
                params![message, error, attempts, failed_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.call(|conn| {
            let mut statement =
                conn.prepare("SELECT id, message, error, attempts, failed_at FROM dead_letters ORDER BY id")?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, u32>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, message, error, attempts, failed_at)| {
                    Ok(DeadLetter {
                        id: id as u64,
                        message: serde_json::from_str::<Message>(&message)
                            .context("stored dead letter is not a message")?,
                        error,
                        attempts,
                        failed_at: parse_time(&failed_at)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn remove_dead_letter(&self, id: u64) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute("DELETE FROM dead_letters WHERE id = ?1", params![id as i64])?;
            Ok(())
        })
        .await
    }
}

fn document<T: serde::de::DeserializeOwned>(conn: &Connection, kind: &str, name: &str) -> anyhow::Result<Option<T>> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM documents WHERE kind = ?1 AND name = ?2")?
        .query_row([kind, name], |row| row.get(0))
        .optional()?;
    body.map(|body| serde_json::from_str(&body).with_context(|| format!("stored {kind} {name:?} is not valid")))
        .transpose()
}

fn put_document(conn: &Connection, kind: &str, name: &str, body: &impl serde::Serialize) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO documents (kind, name, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body",
        params![kind, name, serde_json::to_string(body)?],
    )?;
    Ok(())
}

impl ContextStore for SqliteStore {
    async fn org_context(&self) -> Result<OrgContext, StoreError> {
        self.read(|conn| {
            let mut ownership: Ownership = document(conn, "owners", "")?.unwrap_or_default();
            let mut statement =
                conn.prepare_cached("SELECT body FROM documents WHERE kind = 'codeowners' ORDER BY name")?;
            let bodies = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for body in bodies {
                let rules: Vec<OwnershipRule> =
                    serde_json::from_str(&body).context("stored CODEOWNERS rules are not valid")?;
                ownership.rules.extend(rules);
            }
            let assets: Vec<Asset> = document(conn, "assets", "")?.unwrap_or_default();
            Ok(OrgContext { ownership, assets })
        })
        .await
    }

    async fn replace_ownership(&self, ownership: &Ownership) -> Result<(), StoreError> {
        let mut ownership = ownership.clone();
        ownership
            .rules
            .retain(|r| !matches!(r.matcher, Matcher::Codeowners { .. }));
        self.call(move |conn| put_document(conn, "owners", "", &ownership))
            .await
    }

    async fn replace_codeowners(&self, repo: &AssetKey, rules: &[OwnershipRule]) -> Result<(), StoreError> {
        let (repo, rules) = (repo.to_string(), rules.to_vec());
        self.call(move |conn| put_document(conn, "codeowners", &repo, &rules))
            .await
    }

    async fn replace_assets(&self, assets: &[Asset]) -> Result<(), StoreError> {
        let assets = assets.to_vec();
        self.call(move |conn| put_document(conn, "assets", "", &assets)).await
    }
}

impl IntelStore for SqliteStore {
    async fn replace_kev(&self, entries: &[KevEntry]) -> Result<Vec<String>, StoreError> {
        let entries = entries.to_vec();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let before: HashMap<String, String> = {
                let mut statement = tx.prepare("SELECT cve, body FROM kev")?;
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            let mut changed = Vec::new();
            let mut after = HashMap::with_capacity(entries.len());
            for entry in &entries {
                let body = serde_json::to_string(entry)?;
                if before.get(&entry.cve) != Some(&body) {
                    changed.push(entry.cve.clone());
                }
                after.insert(entry.cve.clone(), body);
            }
            changed.extend(before.keys().filter(|cve| !after.contains_key(*cve)).cloned());
            tx.execute("DELETE FROM kev", [])?;
            {
                let mut insert = tx.prepare("INSERT INTO kev (cve, body) VALUES (?1, ?2)")?;
                for (cve, body) in &after {
                    insert.execute(params![cve, body])?;
                }
            }
            tx.commit()?;
            changed.sort();
            Ok(changed)
        })
        .await
    }

    async fn replace_epss(&self, scores: &[EpssScore]) -> Result<Vec<String>, StoreError> {
        let scores = scores.to_vec();
        self.call(move |conn| {
            let tx = conn.savepoint()?;
            let before: HashMap<String, (f64, f64)> = {
                let mut statement = tx.prepare("SELECT cve, probability, percentile FROM epss")?;
                statement
                    .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?
                    .collect::<Result<_, _>>()?
            };
            let mut changed = Vec::new();
            let mut seen = std::collections::HashSet::with_capacity(scores.len());
            tx.execute("DELETE FROM epss", [])?;
            {
                let mut insert =
                    tx.prepare("INSERT OR REPLACE INTO epss (cve, probability, percentile) VALUES (?1, ?2, ?3)")?;
                for score in &scores {
                    let now = (f64::from(score.probability), f64::from(score.percentile));
                    if before.get(&score.cve) != Some(&now) {
                        changed.push(score.cve.clone());
                    }
                    seen.insert(score.cve.as_str());
                    insert.execute(params![score.cve, now.0, now.1])?;
                }
            }
            changed.extend(before.keys().filter(|cve| !seen.contains(cve.as_str())).cloned());
            tx.commit()?;
            changed.sort();
            changed.dedup();
            Ok(changed)
        })
        .await
    }

    async fn intel(&self, cves: &[String]) -> Result<HashMap<String, CveIntel>, StoreError> {
        let cves = cves.to_vec();
        self.read(move |conn| {
            let mut kev = conn.prepare_cached("SELECT body FROM kev WHERE cve = ?1")?;
            let mut epss = conn.prepare_cached("SELECT probability, percentile FROM epss WHERE cve = ?1")?;
            let mut out = HashMap::new();
            for cve in cves {
                let entry: Option<String> = kev.query_row([&cve], |row| row.get(0)).optional()?;
                let entry: Option<KevEntry> = entry.map(|body| serde_json::from_str(&body)).transpose()?;
                let score = epss
                    .query_row([&cve], |row| Ok((row.get::<_, f64>(0)?, row.get::<_, f64>(1)?)))
                    .optional()?
                    .map(|(probability, percentile)| EpssScore {
                        cve: cve.clone(),
                        probability: probability as f32,
                        percentile: percentile as f32,
                    });
                if entry.is_some() || score.is_some() {
                    out.insert(
                        cve,
                        CveIntel {
                            kev: entry,
                            epss: score,
                        },
                    );
                }
            }
            Ok(out)
        })
        .await
    }
}
