//! Risk policy: score, tier, owner, SLA due date and remediation group of a finding. Pure
//! functions over the finding and what users declared (owners, assets, intel).
//!
//! Every score carries its evidence — factor, value, points, source — so a developer reading
//! a ticket sees why it is urgent and a security lead can tune the weights in `muster.toml`.
//! The score is the higher of severity and CVSS × 10, plus the weighted context factors,
//! clamped to 0–100 (README, "Scoring", gives the defaults and their reasons).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::assets::{Asset, AssetGraph, Environment, Reach};
use crate::config::{Config, PolicyChoice, ScoringConfig};
use crate::model::{
    AssetKey, Evidence, Factor, Finding, FindingKind, GroupKey, Location, Risk, Severity, TeamId, Triage,
};
use crate::ownership::{Place, Router};
use crate::ports::CveIntel;
use crate::ssvc;

/// Everything triage weighs besides the finding itself, loaded once per batch.
pub struct TriageContext<'a> {
    pub config: &'a Config,
    pub router: &'a Router,
    /// The owners file's default team, else `[triage] default_owner`.
    pub default_team: &'a TeamId,
    pub assets: &'a AssetGraph,
    /// Intel by upper-case CVE id.
    pub intel: &'a HashMap<String, CveIntel>,
}

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

/// The CVE ids of a finding, upper case.
pub fn cves(finding: &Finding) -> impl Iterator<Item = String> + '_ {
    finding
        .detection
        .vuln_ids
        .iter()
        .filter(|id| crate::formats::common::is_cve(id))
        .map(|id| id.to_ascii_uppercase())
}

/// Scores a finding and explains the score.
pub fn assess(finding: &Finding, ctx: &TriageContext<'_>) -> Risk {
    let weights = &ctx.config.scoring;
    let detection = &finding.detection;
    let tool = finding.tool.name.as_str();
    let mut evidence = Vec::new();
    let mut add = |factor, value: String, contribution: i16, source: &str| {
        evidence.push(Evidence {
            factor,
            value,
            contribution,
            source: source.to_owned(),
        })
    };

    // Base: the severity band, or CVSS × 10 when the rating is higher, times the base weight.
    let weighted = |points: f32| (points * weights.base_weight).round() as i16;
    let severity_base = weighted(f32::from(severity_score(detection.severity)));
    let cvss = detection.best_cvss();
    let cvss_base = cvss.map(|c| weighted(c.score.clamp(0.0, 10.0) * 10.0));
    match (cvss, cvss_base) {
        (Some(c), Some(base)) if base > severity_base => {
            add(Factor::Severity, detection.severity.to_string(), 0, tool);
            let vector = c.vector.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            add(
                Factor::Cvss,
                format!("{:.1}{vector}", c.score),
                base,
                c.source.as_deref().unwrap_or(tool),
            );
        }
        _ => {
            add(Factor::Severity, detection.severity.to_string(), severity_base, tool);
            if let Some(c) = cvss {
                add(
                    Factor::Cvss,
                    format!("{:.1}", c.score),
                    0,
                    c.source.as_deref().unwrap_or(tool),
                );
            }
        }
    }

    // Exploitation: KEV (from the catalog, or the scanner's own flag) and EPSS.
    let intel: Vec<(String, &CveIntel)> = cves(finding)
        .filter_map(|c| ctx.intel.get(&c).map(|i| (c, i)))
        .collect();
    let kev_entry = intel.iter().find_map(|(_, i)| i.kev.as_ref());
    let kev = kev_entry.is_some() || detection.kev;
    if let Some(entry) = kev_entry {
        add(
            Factor::Kev,
            format!("{} in CISA KEV since {}", entry.cve, entry.date_added),
            weights.kev,
            "cisa-kev",
        );
        if entry.ransomware {
            add(
                Factor::Ransomware,
                "known ransomware campaign use".into(),
                weights.ransomware,
                "cisa-kev",
            );
        }
    } else if detection.kev {
        add(
            Factor::Kev,
            "known exploited (reported by the scanner)".into(),
            weights.kev,
            tool,
        );
    }
    let epss = intel
        .iter()
        .filter_map(|(_, i)| i.epss.as_ref().map(|e| (e.probability, e.percentile, "first-epss")))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .or_else(|| detection.epss.as_ref().map(|e| (e.probability, e.percentile, tool)));
    if let Some((probability, percentile, source)) = epss {
        let points = if probability >= weights.epss_high_at {
            weights.epss_high
        } else if probability >= weights.epss_medium_at {
            weights.epss_medium
        } else {
            0
        };
        add(
            Factor::Epss,
            format!("{probability:.3} ({:.0}th percentile)", percentile * 100.0),
            points,
            source,
        );
    }

    // Business context from the assets file.
    let asset = ctx.assets.get(&finding.asset);
    let reach = ctx.assets.reach(&finding.asset);
    let exposed = exposure_evidence(&reach, weights, &mut add);
    context_evidence(asset, weights, &mut add);

    let fix = match &detection.location {
        Location::Package(package) => package.fixed_version.as_deref().map(|v| format!("upgrade to {v}")),
        _ => None,
    }
    .or_else(|| detection.fix.clone());
    if let Some(fix) = fix {
        add(
            Factor::Fix,
            format!("fix available: {fix}"),
            weights.fix_available,
            tool,
        );
    }

    let sum: i16 = evidence.iter().map(|e| e.contribution).sum();
    let score = sum.clamp(0, 100) as u8;
    let mut tier = weights.tier_of(score);
    if kev && tier > weights.kev_min_tier {
        tier = weights.kev_min_tier;
        evidence.push(Evidence {
            factor: Factor::KevFloor,
            value: format!("known exploited: at least {tier}"),
            contribution: 0,
            source: "muster.toml scoring.kev_min_tier".into(),
        });
    }
    let ssvc = ssvc::assess(exposed, kev, cvss);
    if ctx.config.scoring.policy == PolicyChoice::Bod2604 {
        tier = ssvc::tier_and_days(ssvc.remediation, weights.next_upgrade_days).0;
    }
    Risk {
        score,
        tier,
        evidence,
        ssvc,
    }
}

/// Adds the exposure factor; returns whether the asset is exposed (`None` when unknown).
fn exposure_evidence(
    reach: &Reach,
    weights: &ScoringConfig,
    add: &mut impl FnMut(Factor, String, i16, &str),
) -> Option<bool> {
    match reach {
        Reach::Direct => {
            add(Factor::Exposure, "internet-facing".into(), weights.external, "assets");
            Some(true)
        }
        Reach::Via { path } => {
            let path: Vec<&str> = path.iter().map(AssetKey::as_str).collect();
            add(
                Factor::Exposure,
                format!("reachable from the internet via {}", path.join(" → ")),
                weights.via_connected,
                "assets",
            );
            Some(true)
        }
        Reach::Internal => {
            add(Factor::Exposure, "internal".into(), 0, "assets");
            Some(false)
        }
        Reach::Unknown => None,
    }
}

fn context_evidence(asset: Option<&Asset>, weights: &ScoringConfig, add: &mut impl FnMut(Factor, String, i16, &str)) {
    let Some(asset) = asset else {
        add(Factor::Criticality, "asset not in the assets file".into(), 0, "assets");
        return;
    };
    let criticality = asset.criticality.clamp(1, 4);
    add(
        Factor::Criticality,
        format!("business criticality {criticality}"),
        weights.criticality[usize::from(criticality - 1)],
        "assets",
    );
    let environment = match asset.environment {
        Some(Environment::Production) => Some(("production", 0)),
        Some(Environment::Staging) => Some(("staging", weights.staging)),
        Some(Environment::Development) => Some(("development", weights.development)),
        Some(Environment::Test) => Some(("test", weights.development)),
        None => None,
    };
    if let Some((name, points)) = environment {
        add(Factor::Environment, name.into(), points, "assets");
    }
    let mut budget = weights.controls_floor;
    for control in &asset.controls {
        let wanted = weights
            .controls
            .get(control)
            .copied()
            .unwrap_or(weights.control_default);
        // Controls never take away more than the floor together.
        let points = wanted.max(budget.min(0));
        budget -= points;
        add(Factor::Control, format!("{control} in place"), points, "assets");
    }
}

/// The file path routing looks at: a source file, or the lock file a package came from.
pub fn place_path(finding: &Finding) -> Option<&str> {
    match &finding.detection.location {
        Location::Source { path, .. } => Some(path.trim_start_matches('/')),
        Location::Package(package) => package.path.as_deref().map(|p| p.trim_start_matches('/')),
        _ => None,
    }
}

/// Who owns a finding: the most specific rule's team, or the default team (unowned).
pub fn route(finding: &Finding, ctx: &TriageContext<'_>) -> (TeamId, Option<String>) {
    let tags = ctx.assets.get(&finding.asset).map(|a| a.tags.as_slice()).unwrap_or(&[]);
    let place = Place {
        asset: &finding.asset,
        path: place_path(finding),
        tags,
    };
    let (team, rule) = match ctx.router.route(place) {
        Some(found) => (found.team, Some(found.rule)),
        None => (ctx.default_team.clone(), None),
    };
    match &finding.rerouted {
        Some(reroute) if reroute.from == team => (reroute.to.clone(), Some(format!("not mine, said {}", reroute.by))),
        _ => (team, rule),
    }
}

/// What one change fixes, and in what: dependency findings by (asset, package — the source
/// package when the scanner names one, so `libssl3` and `libcrypto3` are one openssl
/// upgrade), code findings by (repository, rule), cloud findings by (account, control);
/// secrets one each.
pub fn fix_scope(finding: &Finding) -> (AssetKey, String) {
    let detection = &finding.detection;
    let one = || format!("finding:{}", detection.fingerprint);
    match (&detection.location, detection.kind) {
        (_, FindingKind::Secret) => (finding.asset.clone(), one()),
        (Location::Package(package), _) => {
            let upgrade = package.source.as_deref().unwrap_or(&package.name);
            (finding.asset.clone(), format!("pkg:{upgrade}"))
        }
        (_, FindingKind::Cloud) => {
            let account = cloud_account(&finding.asset).unwrap_or_else(|| finding.asset.clone());
            match detection.rule_id.as_deref() {
                Some(control) => (account, format!("control:{control}")),
                None => (finding.asset.clone(), one()),
            }
        }
        _ => match detection.rule_id.as_deref() {
            Some(rule) => (finding.asset.clone(), format!("rule:{rule}")),
            None => (finding.asset.clone(), one()),
        },
    }
}

/// The AWS account of an ARN (`arn:aws:service:region:ACCOUNT:…`) or a bare account id.
fn cloud_account(asset: &AssetKey) -> Option<AssetKey> {
    let key = asset.as_str();
    if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        return Some(asset.clone());
    }
    let account = key.strip_prefix("arn:")?.split(':').nth(3)?;
    (!account.is_empty())
        .then(|| AssetKey::parse(&format!("aws:{account}")).ok())
        .flatten()
}

/// SLA days and tier under the selected policy.
fn sla_days(risk: &Risk, asset: Option<&Asset>, config: &Config) -> u32 {
    match config.scoring.policy {
        PolicyChoice::Score => config.sla.days_for(risk.tier, asset.map(|a| a.criticality)),
        PolicyChoice::Bod2604 => ssvc::tier_and_days(risk.ssvc.remediation, config.scoring.next_upgrade_days).1,
    }
}

/// Due date: the clock's start plus the SLA days.
pub fn due_at(clock_start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    clock_start + Duration::days(i64::from(days))
}

/// The whole triage decision for one finding.
pub fn triage(finding: &Finding, ctx: &TriageContext<'_>) -> Triage {
    let risk = assess(finding, ctx);
    let (owner, owner_rule) = route(finding, ctx);
    let (scope, target) = fix_scope(finding);
    let clock_start = finding.clock_start.unwrap_or(finding.first_seen);
    let days = sla_days(&risk, ctx.assets.get(&finding.asset), ctx.config);
    Triage {
        due_at: due_at(clock_start, days),
        group: GroupKey::new(&owner, &scope, &target),
        owner,
        owner_rule,
        clock_start,
        risk,
    }
}

/// Timeline lines for what changed between two decisions (`None` = first triage).
pub fn changes(before: Option<&Triage>, after: &Triage) -> Vec<(&'static str, String)> {
    let owner = |t: &Triage| match &t.owner_rule {
        Some(rule) => format!("{} (rule {rule})", t.owner),
        None => format!("{} (default team: no rule matched)", t.owner),
    };
    let Some(before) = before else {
        return vec![(
            "sla_started",
            format!(
                "{} (score {}), due {}, owner {}",
                after.risk.tier,
                after.risk.score,
                after.due_at.format("%Y-%m-%d"),
                owner(after)
            ),
        )];
    };
    let mut lines = Vec::new();
    if before.risk.tier != after.risk.tier || before.risk.score != after.risk.score {
        lines.push((
            "rescored",
            format!(
                "{} (score {}) → {} (score {})",
                before.risk.tier, before.risk.score, after.risk.tier, after.risk.score
            ),
        ));
    }
    if before.due_at != after.due_at {
        lines.push((
            "due_moved",
            format!(
                "{} → {}",
                before.due_at.format("%Y-%m-%d"),
                after.due_at.format("%Y-%m-%d")
            ),
        ));
    }
    if before.owner != after.owner || before.owner_rule != after.owner_rule {
        lines.push(("owner_changed", format!("{} → {}", owner(before), owner(after))));
    }
    lines
}

/// Orders version strings segment by segment (numbers numerically), good enough to pick the
/// highest of several fixed versions of one package.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<(u64, String)> {
        v.trim_start_matches(['v', 'V'])
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_owned())
            })
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// The lowest version that fixes one finding: of the fixed versions listed (`1.2.5, 2.0.1`),
/// the first at or above the installed one.
pub fn needed_fix(installed: Option<&str>, fixed: &str) -> Option<String> {
    let mut candidates: Vec<&str> = fixed
        .split([',', '|'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    candidates.sort_by(|a, b| compare_versions(a, b));
    let above = installed.and_then(|installed| {
        candidates
            .iter()
            .find(|v| compare_versions(v, installed).is_ge())
            .copied()
    });
    above.or(candidates.last().copied()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::assets::{Asset, Exposure};
    use crate::intel::{EpssScore, KevEntry};
    use crate::model::{Cvss, Detection, Epss, Fingerprint, PackageLocation, Remediation, Status, Tier, Tool};
    use crate::ownership::Ownership;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn finding(severity: Severity) -> Finding {
        let mut detection = Detection::new(
            Fingerprint::from_bytes([7; 16]),
            FindingKind::Dependency,
            "openssl: buffer overflow".into(),
            severity,
            Location::Package(Box::new(PackageLocation {
                name: "openssl".into(),
                version: Some("3.0.1".into()),
                fixed_version: None,
                path: None,
                source: None,
            })),
        );
        detection.vuln_ids = vec!["CVE-2022-3602".into()];
        Finding {
            detection,
            tool: Tool {
                name: "Trivy".into(),
                version: None,
            },
            asset: AssetKey::parse("ghcr.io/acme/api").unwrap(),
            seen_by: vec![],
            status: Status::Open,
            first_seen: at("2026-01-01T00:00:00Z"),
            last_seen: at("2026-01-01T00:00:00Z"),
            resolved_at: None,
            triage: None,
            acceptance: None,
            clock_start: None,
            rerouted: None,
            timeline: vec![],
        }
    }

    fn asset(criticality: u8, exposure: Exposure) -> Asset {
        Asset {
            key: AssetKey::parse("ghcr.io/acme/api").unwrap(),
            name: None,
            criticality,
            environment: Some(Environment::Production),
            exposure,
            controls: vec![],
            connected_to: vec![],
            tags: vec![],
        }
    }

    /// Runs `assess` with the given assets and intel and the default config.
    struct World {
        config: Config,
        router: Router,
        team: TeamId,
        assets: AssetGraph,
        intel: HashMap<String, CveIntel>,
    }

    impl World {
        fn new(assets: &[Asset]) -> Self {
            Self {
                config: Config::default(),
                router: Router::new(&Ownership::default()).unwrap(),
                team: TeamId::parse("security-triage").unwrap(),
                assets: AssetGraph::new(assets),
                intel: HashMap::new(),
            }
        }

        fn ctx(&self) -> TriageContext<'_> {
            TriageContext {
                config: &self.config,
                router: &self.router,
                default_team: &self.team,
                assets: &self.assets,
                intel: &self.intel,
            }
        }

        fn assess(&self, finding: &Finding) -> Risk {
            assess(finding, &self.ctx())
        }
    }

    fn points(risk: &Risk, factor: Factor) -> i16 {
        risk.evidence
            .iter()
            .filter(|e| e.factor == factor)
            .map(|e| e.contribution)
            .sum()
    }

    #[test]
    fn severity_sets_the_base_and_tier() {
        let world = World::new(&[]);
        for (severity, score, tier) in [
            // Severity alone never reaches P1: 0.7 × the band.
            (Severity::Critical, 63, Tier::P2),
            (Severity::High, 49, Tier::P3),
            (Severity::Medium, 32, Tier::P3),
            (Severity::Low, 14, Tier::P4),
        ] {
            let risk = world.assess(&finding(severity));
            assert_eq!((risk.score, risk.tier), (score, tier), "{severity}");
            assert_eq!(points(&risk, Factor::Severity), i16::from(score));
        }
    }

    #[test]
    fn cvss_replaces_the_base_only_when_higher() {
        let world = World::new(&[]);
        let mut higher = finding(Severity::Medium);
        higher.detection.cvss = vec![Cvss::new(8.1, None, Some("nvd".into()))];
        let risk = world.assess(&higher);
        assert_eq!(risk.score, 57, "0.7 × 81");
        assert_eq!((points(&risk, Factor::Cvss), points(&risk, Factor::Severity)), (57, 0));
        let mut lower = finding(Severity::Critical);
        lower.detection.cvss = vec![Cvss::new(7.0, None, None)];
        assert_eq!(world.assess(&lower).score, 63);
    }

    #[test]
    fn kev_adds_points_and_a_tier_floor() {
        let mut world = World::new(&[]);
        world.intel.insert(
            "CVE-2022-3602".into(),
            CveIntel {
                kev: Some(KevEntry {
                    cve: "CVE-2022-3602".into(),
                    name: "OpenSSL".into(),
                    date_added: chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
                    due_date: None,
                    ransomware: true,
                }),
                epss: None,
            },
        );
        let risk = world.assess(&finding(Severity::Low));
        assert_eq!(points(&risk, Factor::Kev), 25);
        assert_eq!(points(&risk, Factor::Ransomware), 5);
        assert_eq!(risk.score, 44, "14 + 25 + 5");
        assert_eq!(risk.tier, Tier::P2, "KEV lifts a P3 score to the P2 floor");
        assert!(risk.evidence.iter().any(|e| e.factor == Factor::KevFloor));
        assert!(risk.evidence.iter().any(|e| e.value.contains("since 2024-05-01")));
        assert!(risk.ssvc.kev);

        // The scanner's own KEV flag counts too, without the catalog.
        let world = World::new(&[]);
        let mut flagged = finding(Severity::Low);
        flagged.detection.kev = true;
        assert_eq!(world.assess(&flagged).tier, Tier::P2);
    }

    #[test]
    fn epss_thresholds() {
        let world = World::new(&[]);
        for (probability, expected) in [(0.5, 15), (0.1, 15), (0.05, 5), (0.01, 5), (0.001, 0)] {
            let mut f = finding(Severity::Medium);
            f.detection.epss = Some(Epss {
                probability,
                percentile: 0.9,
            });
            assert_eq!(points(&world.assess(&f), Factor::Epss), expected, "EPSS {probability}");
        }
        // The feed wins over the report's (older) value.
        let mut world = World::new(&[]);
        world.intel.insert(
            "CVE-2022-3602".into(),
            CveIntel {
                kev: None,
                epss: Some(EpssScore {
                    cve: "CVE-2022-3602".into(),
                    probability: 0.3,
                    percentile: 0.97,
                }),
            },
        );
        let mut f = finding(Severity::Medium);
        f.detection.epss = Some(Epss {
            probability: 0.001,
            percentile: 0.1,
        });
        let risk = world.assess(&f);
        assert_eq!(points(&risk, Factor::Epss), 15);
        assert!(risk.evidence.iter().any(|e| e.source == "first-epss"));
    }

    #[test]
    fn exposure_direct_and_through_connections() {
        let external = World::new(&[asset(3, Exposure::External)]);
        let risk = external.assess(&finding(Severity::Medium));
        assert_eq!(points(&risk, Factor::Exposure), 10);
        assert!(risk.ssvc.exposed);

        let mut alb = asset(3, Exposure::External);
        alb.key = AssetKey::parse("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop").unwrap();
        alb.connected_to = vec![AssetKey::parse("ghcr.io/acme/api").unwrap()];
        let via = World::new(&[alb, asset(3, Exposure::Internal)]);
        let risk = via.assess(&finding(Severity::Medium));
        assert_eq!(points(&risk, Factor::Exposure), 5);
        let evidence = risk.evidence.iter().find(|e| e.factor == Factor::Exposure).unwrap();
        assert!(
            evidence.value.contains("loadbalancer/app/shop → ghcr.io/acme/api"),
            "{}",
            evidence.value
        );

        let internal = World::new(&[asset(3, Exposure::Internal)]);
        let risk = internal.assess(&finding(Severity::Medium));
        assert_eq!(points(&risk, Factor::Exposure), 0);
        assert!(!risk.ssvc.exposed);
    }

    #[test]
    fn criticality_environment_and_controls() {
        for (criticality, expected) in [(1, 10), (2, 5), (3, 0), (4, -10)] {
            let world = World::new(&[asset(criticality, Exposure::Internal)]);
            assert_eq!(
                points(&world.assess(&finding(Severity::Medium)), Factor::Criticality),
                expected
            );
        }
        let mut staging = asset(3, Exposure::Internal);
        staging.environment = Some(Environment::Staging);
        let world = World::new(&[staging]);
        assert_eq!(
            points(&world.assess(&finding(Severity::Medium)), Factor::Environment),
            -10
        );

        let mut guarded = asset(3, Exposure::External);
        guarded.controls = vec!["waf".into(), "network-isolated".into(), "edr".into()];
        let world = World::new(&[guarded]);
        let risk = world.assess(&finding(Severity::Medium));
        assert_eq!(points(&risk, Factor::Control), -15, "controls stop at the floor");
        assert_eq!(risk.evidence.iter().filter(|e| e.factor == Factor::Control).count(), 3);
    }

    #[test]
    fn fix_availability_and_clamping() {
        let world = World::new(&[]);
        let mut fixable = finding(Severity::Critical);
        if let Location::Package(package) = &mut fixable.detection.location {
            package.fixed_version = Some("3.0.7".into());
        }
        fixable.detection.cvss = vec![Cvss::new(10.0, None, None)];
        fixable.detection.kev = true;
        let risk = world.assess(&fixable);
        assert_eq!(points(&risk, Factor::Fix), 5);
        assert_eq!(risk.score, 100, "70 + 25 + 5");
        fixable.detection.epss = Some(Epss {
            probability: 0.9,
            percentile: 0.99,
        });
        assert_eq!(world.assess(&fixable).score, 100, "115 clamps to 100");
    }

    #[test]
    fn weights_come_from_config() {
        let mut world = World::new(&[]);
        world.config = Config::from_toml("[scoring]\np2 = 50\np3 = 10\n", "m.toml").unwrap();
        assert_eq!(world.assess(&finding(Severity::Low)).tier, Tier::P3);
        assert_eq!(world.assess(&finding(Severity::Medium)).tier, Tier::P3);
        world.config = Config::from_toml("[scoring]\npolicy = \"bod-26-04\"\n", "m.toml").unwrap();
        // Unknown asset and no vector: exposed, automatable and total are assumed; not in KEV.
        let risk = world.assess(&finding(Severity::Low));
        assert_eq!(risk.ssvc.remediation, Remediation::Days14);
        assert_eq!(risk.tier, Tier::P2, "the BOD decision sets the tier under that policy");
    }

    #[test]
    fn due_date_follows_tier_criticality_and_policy() {
        let mut world = World::new(&[asset(1, Exposure::Internal)]);
        world.config = Config::from_toml("[sla.criticality.1]\nP3 = 30\n", "m.toml").unwrap();
        let triage = triage(&finding(Severity::Medium), &world.ctx());
        assert_eq!(triage.risk.tier, Tier::P3);
        assert_eq!(
            triage.due_at,
            at("2026-01-31T00:00:00Z"),
            "criticality 1 gets 30 days for P3"
        );
        assert!(triage.is_unowned());

        world.config = Config::from_toml("[scoring]\npolicy = \"bod-26-04\"\n", "m.toml").unwrap();
        let triage = super::triage(&finding(Severity::Medium), &world.ctx());
        assert_eq!(triage.risk.ssvc.remediation, Remediation::Days60);
        assert_eq!(triage.due_at, at("2026-03-02T00:00:00Z"), "60 days");
    }

    #[test]
    fn groups_by_fix() {
        let package = finding(Severity::High);
        assert_eq!(fix_scope(&package).1, "pkg:openssl");
        let mut secret = finding(Severity::High);
        secret.detection.kind = FindingKind::Secret;
        secret.detection.location = Location::Source {
            path: ".env".into(),
            line: Some(1),
        };
        assert!(fix_scope(&secret).1.starts_with("finding:"));
        let mut cloud = finding(Severity::High);
        cloud.detection.kind = FindingKind::Cloud;
        cloud.detection.rule_id = Some(Arc::from("S3.8"));
        cloud.detection.location = Location::Resource {
            id: "arn:aws:s3:::bucket".into(),
        };
        cloud.asset = AssetKey::parse("arn:aws:s3:eu-west-1:123456789012:bucket").unwrap();
        assert_eq!(
            fix_scope(&cloud),
            (AssetKey::parse("aws:123456789012").unwrap(), "control:S3.8".into())
        );
        let mut code = finding(Severity::High);
        code.detection.kind = FindingKind::Code;
        code.detection.rule_id = Some(Arc::from("js/xss"));
        code.detection.location = Location::Source {
            path: "a.js".into(),
            line: Some(3),
        };
        assert_eq!(fix_scope(&code).1, "rule:js/xss");
    }

    #[test]
    fn versions_and_needed_fixes() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Greater);
        assert_eq!(compare_versions("v2.0", "2.0"), Equal);
        assert_eq!(compare_versions("1.2.3-r1", "1.2.3-r0"), Greater);
        assert_eq!(
            needed_fix(Some("2.4.0"), "1.9.5, 2.4.3, 3.0.1").as_deref(),
            Some("2.4.3")
        );
        assert_eq!(needed_fix(Some("4.0"), "1.9.5, 2.4.3").as_deref(), Some("2.4.3"));
        assert_eq!(needed_fix(None, "1.0.1").as_deref(), Some("1.0.1"));
    }

    #[test]
    fn changes_name_what_moved() {
        let world = World::new(&[]);
        let before = triage(&finding(Severity::High), &world.ctx());
        let first = changes(None, &before);
        assert_eq!(first[0].0, "sla_started");
        let world = World::new(&[asset(1, Exposure::External)]);
        let after = triage(&finding(Severity::High), &world.ctx());
        let events: Vec<&str> = changes(Some(&before), &after).iter().map(|c| c.0).collect();
        assert_eq!(events, ["rescored", "due_moved"]);
    }
}
