//! Risk policy: score, tier, SLA due date and remediation group of a finding. Pure functions.
//!
//! Every score carries the evidence that produced it, so a developer reading a ticket can see
//! why it is urgent. This first policy weighs severity (and CVSS when given); exploitation
//! intel, exposure and business context extend it without changing its shape.

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::model::{Finding, FindingKind, GroupKey, Location, Risk, Severity, TeamId, Tier, Triage};

/// Base score of a severity, on 0–100.
fn severity_score(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 90,
        Severity::High => 70,
        Severity::Medium => 45,
        Severity::Low => 20,
        Severity::Info => 5,
    }
}

/// Tier thresholds on the score: P1 ≥ 85, P2 ≥ 65, P3 ≥ 40, else P4.
fn tier_of(score: u8) -> Tier {
    match score {
        85.. => Tier::P1,
        65.. => Tier::P2,
        40.. => Tier::P3,
        _ => Tier::P4,
    }
}

/// Scores a finding and explains the score.
pub fn assess(finding: &Finding) -> Risk {
    let detection = &finding.detection;
    let mut evidence = vec![format!("severity {}", detection.severity)];
    let mut score = severity_score(detection.severity);
    if let Some(cvss) = detection.best_cvss() {
        // CVSS refines the band: ten points per CVSS point around the band's base.
        let cvss_score = (cvss.score.clamp(0.0, 10.0) * 10.0).round() as u8;
        score = score.max(cvss_score.min(100));
        evidence.push(format!("CVSS {:.1}", cvss.score));
    }
    Risk {
        score,
        tier: tier_of(score),
        evidence,
    }
}

/// Due date: first seen plus the tier's SLA days.
pub fn due_at(first_seen: DateTime<Utc>, tier: Tier, config: &Config) -> DateTime<Utc> {
    first_seen + Duration::days(i64::from(config.sla.days(tier)))
}

/// What one change fixes: a package upgrade, or one rule's hits in one asset.
pub fn fix_target(finding: &Finding) -> String {
    let detection = &finding.detection;
    match (&detection.location, detection.kind) {
        (Location::Package(package), _) => format!("pkg:{}", package.name),
        (_, FindingKind::Cloud) => format!("finding:{}", detection.fingerprint),
        (_, _) => match detection.rule_id.as_deref() {
            Some(rule) => format!("rule:{rule}"),
            None => format!("finding:{}", detection.fingerprint),
        },
    }
}

/// The whole triage decision for one finding owned by `owner`.
pub fn triage(finding: &Finding, owner: &TeamId, config: &Config) -> Triage {
    let risk = assess(finding);
    Triage {
        due_at: due_at(finding.first_seen, risk.tier, config),
        group: GroupKey::new(owner, &finding.asset, &fix_target(finding)),
        owner: owner.clone(),
        risk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_severity() {
        assert_eq!(tier_of(severity_score(Severity::Critical)), Tier::P1);
        assert_eq!(tier_of(severity_score(Severity::High)), Tier::P2);
        assert_eq!(tier_of(severity_score(Severity::Medium)), Tier::P3);
        assert_eq!(tier_of(severity_score(Severity::Low)), Tier::P4);
        assert_eq!(tier_of(severity_score(Severity::Info)), Tier::P4);
    }

    #[test]
    fn due_date_adds_tier_days() {
        let config = Config::default();
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        assert_eq!(
            due_at(start, Tier::P1, &config).to_rfc3339(),
            "2026-01-08T00:00:00+00:00"
        );
        assert_eq!(
            due_at(start, Tier::P4, &config).to_rfc3339(),
            "2026-06-30T00:00:00+00:00"
        );
    }
}
