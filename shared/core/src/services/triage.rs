//! Triage: score, route and group findings, then ask the ticket stage to sync their groups.
//!
//! Idempotent: a finding whose decision has not changed is not written again, and its group
//! is still handed on, so a redelivered message repairs a crash between save and send. Every
//! change of tier, due date or owner is written to the finding's timeline.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::PipelineError;
use crate::assets::AssetGraph;
use crate::config::{AcceptanceExpiry, Config};
use crate::messages::Message;
use crate::model::{Acceptance, Finding, Fingerprint, Status, TeamId};
use crate::ownership::Router;
use crate::policy::{self, TriageContext};
use crate::ports::{Clock, ContextStore, CveIntel, FindingFilter, FindingStore, IntelStore, Queue, StoreError};

/// Triages the given findings; closed ones only have their group re-synced.
pub async fn triage<S, Q, C>(
    store: &S,
    queue: &Q,
    clock: &C,
    config: &Config,
    fingerprints: &[Fingerprint],
) -> Result<(), PipelineError>
where
    S: FindingStore + ContextStore + IntelStore,
    Q: Queue,
    C: Clock,
{
    let now = clock.now();
    let findings = store.findings(fingerprints).await?;
    let inputs = TriageInputs::load(store, config, &findings).await?;
    let ctx = inputs.context(config);

    let mut groups = BTreeSet::new();
    let mut changed = Vec::new();
    for mut finding in findings {
        if let Some(group) = finding.group() {
            groups.insert(group.clone());
        }
        if !finding.status.is_open() {
            continue;
        }
        let decided = decide(&mut finding, &ctx, now);
        groups.extend(finding.group().cloned());
        if decided {
            changed.push(finding);
        }
    }
    store.save_findings(&changed).await?;
    if !groups.is_empty() {
        queue
            .send(groups.into_iter().map(|group| Message::Ticket { group }).collect())
            .await?;
    }
    Ok(())
}

/// What a triage decision reads besides the finding: the org's ownership and assets and the
/// intel on the findings' CVEs, loaded once per batch.
pub struct TriageInputs {
    router: Router,
    assets: AssetGraph,
    default_team: TeamId,
    intel: HashMap<String, CveIntel>,
}

impl TriageInputs {
    pub async fn load<S>(store: &S, config: &Config, findings: &[Finding]) -> Result<Self, PipelineError>
    where
        S: ContextStore + IntelStore,
    {
        let org = store.org_context().await?;
        let router = Router::new(&org.ownership)
            .map_err(|e| StoreError::Corrupt(format!("stored ownership rules no longer compile: {e}")))?;
        let cves: BTreeSet<String> = findings.iter().flat_map(policy::cves).collect();
        let intel = if cves.is_empty() {
            HashMap::new()
        } else {
            store.intel(&cves.into_iter().collect::<Vec<_>>()).await?
        };
        Ok(Self {
            router,
            assets: AssetGraph::new(&org.assets),
            default_team: org.ownership.triage_team(&config.triage.default_owner),
            intel,
        })
    }

    pub fn context<'a>(&'a self, config: &'a Config) -> TriageContext<'a> {
        TriageContext {
            config,
            router: &self.router,
            default_team: &self.default_team,
            assets: &self.assets,
            intel: &self.intel,
        }
    }
}

/// Decides an open finding's triage, ending an expired risk acceptance first, and writes every
/// change of tier, due date or owner to its timeline. Returns whether the finding changed.
pub fn decide(finding: &mut Finding, ctx: &TriageContext<'_>, now: DateTime<Utc>) -> bool {
    let expired = end_expired_acceptance(finding, now, ctx.config);
    let decision = policy::triage(finding, ctx);
    if !expired && finding.triage.as_deref() == Some(&decision) {
        return false;
    }
    for (event, detail) in policy::changes(finding.triage.as_deref(), &decision) {
        finding.push_timeline(now, event, detail);
    }
    finding.triage = Some(Box::new(decision));
    true
}

/// Reopens a finding whose risk acceptance ran out; the SLA clock restarts at the expiry or
/// resumes where it paused, as configured. Returns whether it did.
pub fn end_expired_acceptance(finding: &mut Finding, now: DateTime<Utc>, config: &Config) -> bool {
    let Some(acceptance) = finding.acceptance.as_ref() else {
        return false;
    };
    if finding.status != Status::RiskAccepted || acceptance.until > now {
        return false;
    }
    let until = acceptance.until;
    let paused = until - acceptance.at;
    let start = finding.clock_start.unwrap_or(finding.first_seen);
    let restarted = match config.sla.on_acceptance_expiry {
        AcceptanceExpiry::Restart => until,
        AcceptanceExpiry::Resume => start + paused,
    };
    finding.clock_start = Some(restarted);
    finding.status = Status::Reopened;
    finding.acceptance = None;
    finding.push_timeline(
        now,
        "acceptance_expired",
        format!(
            "risk acceptance ended {}; SLA clock {} from {}",
            until.format("%Y-%m-%d"),
            match config.sla.on_acceptance_expiry {
                AcceptanceExpiry::Restart => "restarts",
                AcceptanceExpiry::Resume => "resumes",
            },
            restarted.format("%Y-%m-%d")
        ),
    );
    true
}

/// Records a risk acceptance: the finding stays open (its ticket too) but its SLA clock pauses
/// until `until`; triage reopens it when the acceptance runs out.
pub async fn accept_risk<S, C>(
    store: &S,
    clock: &C,
    fingerprint: Fingerprint,
    until: DateTime<Utc>,
    reason: &str,
    by: Option<&str>,
) -> Result<Finding, PipelineError>
where
    S: FindingStore,
    C: Clock,
{
    let now = clock.now();
    let mut finding = store
        .findings(&[fingerprint])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt(format!("finding {fingerprint} vanished")))?;
    if !finding.status.is_open() {
        return Err(PipelineError::Rejected(format!(
            "finding {fingerprint} is {}; only open findings can be accepted",
            finding.status
        )));
    }
    if until <= now {
        return Err(PipelineError::Rejected(format!(
            "the acceptance must end in the future, not {}",
            until.format("%Y-%m-%d")
        )));
    }
    finding.status = Status::RiskAccepted;
    finding.acceptance = Some(Box::new(Acceptance {
        at: now,
        until,
        reason: reason.to_owned(),
        by: by.map(str::to_owned),
    }));
    let who = by.map(|b| format!(" by {b}")).unwrap_or_default();
    finding.push_timeline(
        now,
        "risk_accepted",
        format!("until {}{who}: {reason}; SLA clock paused", until.format("%Y-%m-%d")),
    );
    store.save_findings(std::slice::from_ref(&finding)).await?;
    Ok(finding)
}

/// Sends risk-accepted findings whose acceptance has run out back through triage, which
/// reopens them and restarts their clock. Run on a schedule (`muster serve` hourly; the AWS
/// sweep). Returns how many expired.
pub async fn review_acceptances<S, Q, C>(store: &S, queue: &Q, clock: &C) -> Result<usize, PipelineError>
where
    S: FindingStore,
    Q: Queue,
    C: Clock,
{
    let now = clock.now();
    let accepted = store
        .list_findings(&FindingFilter {
            status: Some(Status::RiskAccepted),
            ..FindingFilter::default()
        })
        .await?;
    let expired: Vec<Fingerprint> = accepted
        .iter()
        .filter(|f| f.acceptance.as_ref().is_none_or(|a| a.until <= now))
        .map(Finding::fingerprint)
        .collect();
    if !expired.is_empty() {
        queue.send(Message::triage_batches(&expired).collect()).await?;
    }
    Ok(expired.len())
}
