//! Triage: score, route and group findings, then ask the ticket stage to sync their groups.
//!
//! Idempotent: a finding whose decision has not changed is not written again, and its group
//! is still handed on, so a redelivered message repairs a crash between save and send.

use std::collections::BTreeSet;

use super::PipelineError;
use crate::config::Config;
use crate::messages::Message;
use crate::model::Fingerprint;
use crate::policy;
use crate::ports::{FindingStore, Queue};

/// Triages the given findings; closed ones only have their group re-synced.
pub async fn triage<S, Q>(
    store: &S,
    queue: &Q,
    config: &Config,
    fingerprints: &[Fingerprint],
) -> Result<(), PipelineError>
where
    S: FindingStore,
    Q: Queue,
{
    let findings = store.findings(fingerprints).await?;
    let mut groups = BTreeSet::new();
    let mut changed = Vec::new();
    for mut finding in findings {
        if let Some(group) = finding.group() {
            groups.insert(group.clone());
        }
        if !finding.status.is_open() {
            continue;
        }
        let decision = policy::triage(&finding, &config.triage.default_owner, config);
        groups.insert(decision.group.clone());
        if finding.triage.as_ref() != Some(&decision) {
            finding.triage = Some(decision);
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
