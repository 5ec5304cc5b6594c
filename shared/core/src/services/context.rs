//! Imports of what users keep in git — owners, CODEOWNERS, assets, threat intel — and the
//! re-scoring they cause.
//!
//! Each import is validated whole against everything already known (rules compile, no two
//! equally specific rules claim one place) before anything is stored, so a bad file never
//! half-applies. Afterwards the affected open findings go back through triage, which moves
//! tiers, owners and due dates and writes each change to the finding's timeline.

use std::collections::BTreeSet;

use serde::Serialize;

use super::PipelineError;
use crate::assets::{Asset, AssetGraph};
use crate::import::ImportError;
use crate::intel::{EpssFile, KevCatalog};
use crate::messages::Message;
use crate::model::{AssetKey, Finding, Fingerprint};
use crate::ownership::{Matcher, Ownership, OwnershipRule, Place, Router};
use crate::policy;
use crate::ports::{ContextStore, FindingFilter, FindingStore, IntelStore, Queue};

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error(transparent)]
    Invalid(#[from] ImportError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

impl From<crate::ports::StoreError> for ImportFailure {
    fn from(error: crate::ports::StoreError) -> Self {
        Self::Pipeline(error.into())
    }
}

impl From<crate::ports::QueueError> for ImportFailure {
    fn from(error: crate::ports::QueueError) -> Self {
        Self::Pipeline(error.into())
    }
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Entries the file holds (teams + rules, assets, KEV entries + EPSS scores).
    pub entries: usize,
    /// CVEs whose intel changed (intel imports only).
    pub changed_cves: usize,
    /// Open findings sent back through triage.
    pub rescored: usize,
}

/// Makes the owners file the truth: teams, rules, default team.
pub async fn import_ownership<S, Q>(store: &S, queue: &Q, ownership: Ownership) -> Result<ImportSummary, ImportFailure>
where
    S: FindingStore + ContextStore,
    Q: Queue,
{
    let current = store.org_context().await?;
    let mut merged = ownership.clone();
    for rule in &current.ownership.rules {
        if !matches!(rule.matcher, Matcher::Codeowners { .. }) {
            continue;
        }
        if let Some(team) = rule
            .team
            .as_ref()
            .filter(|team| !ownership.teams.iter().any(|t| t.id == **team))
        {
            return Err(ImportError::new(
                "owners file",
                format!(
                    "team {team} is still named by the imported CODEOWNERS rule {}: keep the team, or re-import that \
                     CODEOWNERS file first",
                    rule.id
                ),
            )
            .into());
        }
        merged.rules.push(rule.clone());
    }
    let open = validate(store, &merged, &current.assets).await?;
    store.replace_ownership(&ownership).await?;
    let entries = ownership.teams.len() + ownership.rules.len();
    rescore(queue, &open, |_| true, entries).await
}

/// Makes one repository's CODEOWNERS file the truth for that repository.
pub async fn import_codeowners<S, Q>(
    store: &S,
    queue: &Q,
    repo: &AssetKey,
    rules: Vec<OwnershipRule>,
) -> Result<ImportSummary, ImportFailure>
where
    S: FindingStore + ContextStore,
    Q: Queue,
{
    let current = store.org_context().await?;
    let mut merged = current.ownership.clone();
    merged
        .rules
        .retain(|r| !matches!(&r.matcher, Matcher::Codeowners { repo: other, .. } if other == repo));
    merged.rules.extend(rules.iter().cloned());
    let open = validate(store, &merged, &current.assets).await?;
    store.replace_codeowners(repo, &rules).await?;
    rescore(queue, &open, |f| f.asset == *repo, rules.len()).await
}

/// Makes the assets file the truth: criticality, exposure, controls, connections, tags.
pub async fn import_assets<S, Q>(store: &S, queue: &Q, assets: Vec<Asset>) -> Result<ImportSummary, ImportFailure>
where
    S: FindingStore + ContextStore,
    Q: Queue,
{
    let current = store.org_context().await?;
    let open = validate(store, &current.ownership, &assets).await?;
    store.replace_assets(&assets).await?;
    // Exposure propagates, so any asset's change can move any finding: re-score all open ones;
    // triage writes only those whose decision changed.
    rescore(queue, &open, |_| true, assets.len()).await
}

/// Stores new KEV and EPSS data and re-scores the open findings of every CVE that changed.
pub async fn import_intel<S, Q>(
    store: &S,
    queue: &Q,
    kev: Option<KevCatalog>,
    epss: Option<EpssFile>,
) -> Result<ImportSummary, ImportFailure>
where
    S: FindingStore + IntelStore,
    Q: Queue,
{
    let mut changed = BTreeSet::new();
    let mut entries = 0;
    if let Some(kev) = kev {
        entries += kev.entries.len();
        changed.extend(store.replace_kev(&kev.entries).await?);
    }
    if let Some(epss) = epss {
        entries += epss.scores.len();
        changed.extend(store.replace_epss(&epss.scores).await?);
    }
    let open = open_findings(store).await?;
    let touched = |f: &Finding| policy::cves(f).any(|cve| changed.contains(&cve));
    let mut summary = rescore(queue, &open, touched, entries).await?;
    summary.changed_cves = changed.len();
    Ok(summary)
}

async fn open_findings<S: FindingStore>(store: &S) -> Result<Vec<Finding>, ImportFailure> {
    Ok(store
        .list_findings(&FindingFilter {
            open_only: true,
            ..FindingFilter::default()
        })
        .await?)
}

/// Compiles the rules and checks for ties on every place known: the assets and the open
/// findings. Returns the open findings for re-scoring.
async fn validate<S: FindingStore>(
    store: &S,
    ownership: &Ownership,
    assets: &[Asset],
) -> Result<Vec<Finding>, ImportFailure> {
    let router = Router::new(ownership)?;
    let graph = AssetGraph::new(assets);
    let open = open_findings(store).await?;
    let mut places: Vec<Place<'_>> = assets
        .iter()
        .map(|asset| Place {
            asset: &asset.key,
            path: None,
            tags: &asset.tags,
        })
        .collect();
    for finding in &open {
        places.push(Place {
            asset: &finding.asset,
            path: policy::place_path(finding),
            tags: graph.get(&finding.asset).map(|a| a.tags.as_slice()).unwrap_or(&[]),
        });
    }
    router.check_ties(&places)?;
    Ok(open)
}

async fn rescore<Q: Queue>(
    queue: &Q,
    open: &[Finding],
    affected: impl Fn(&Finding) -> bool,
    entries: usize,
) -> Result<ImportSummary, ImportFailure> {
    let fingerprints: Vec<Fingerprint> = open.iter().filter(|f| affected(f)).map(Finding::fingerprint).collect();
    if !fingerprints.is_empty() {
        queue.send(Message::triage_batches(&fingerprints).collect()).await?;
    }
    Ok(ImportSummary {
        entries,
        changed_cves: 0,
        rescored: fingerprints.len(),
    })
}
