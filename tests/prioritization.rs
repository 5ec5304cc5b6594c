//! Prioritization end to end: real reports, the example owners and assets files and the real
//! KEV catalog go in; every finding comes out with a tier, an owner (or counted unowned), a
//! due date and the evidence behind them, grouped into few fix-oriented tickets. Changing an
//! asset, the intel or a risk acceptance moves tiers and due dates, and the timeline says so.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use muster_core::assets::parse_assets_yaml;
use muster_core::intel::{KevCatalog, parse_epss, parse_kev};
use muster_core::model::{Factor, Remediation};
use muster_core::ownership::{parse_codeowners, parse_owners_yaml};
use muster_core::ports::{ContextStore, FindingFilter, FindingStore, FixedClock, OutboxStore};
use muster_core::services::context::{import_assets, import_codeowners, import_intel, import_ownership};
use muster_core::services::ticket::open_groups;
use muster_core::services::triage::{accept_risk, review_acceptances};
use muster_core::services::{Pipeline, PipelineError};
use muster_core::{AssetKey, Config, Finding, Location, SourceName, Status, Tier};
use muster_tests::{TestPipeline, at, fixture, ingest_from, pipeline_at, sample, sample_files};

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

async fn import_examples(pipeline: &TestPipeline) {
    let owners = parse_owners_yaml(&example("owners.yaml"), "owners.yaml").unwrap();
    import_ownership(&pipeline.store, &pipeline.queue, owners)
        .await
        .unwrap();
    let teams = pipeline.store.org_context().await.unwrap().ownership.teams;
    let repo = AssetKey::parse("github.com/acme/shop-api").unwrap();
    let rules = parse_codeowners(&example("CODEOWNERS"), "CODEOWNERS", &repo, &teams).unwrap();
    import_codeowners(&pipeline.store, &pipeline.queue, &repo, rules)
        .await
        .unwrap();
    let assets = parse_assets_yaml(&example("assets.yaml"), "assets.yaml").unwrap();
    import_assets(&pipeline.store, &pipeline.queue, assets).await.unwrap();
    drain(pipeline).await;
}

async fn drain(pipeline: &TestPipeline) {
    let drained = pipeline.queue.drain(pipeline, |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0, "no stage may fail");
}

async fn all(pipeline: &TestPipeline) -> Vec<Finding> {
    pipeline.store.list_findings(&FindingFilter::default()).await.unwrap()
}

fn find<'a>(findings: &'a [Finding], cve: &str, package: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| {
            f.detection.vuln_ids.iter().any(|id| id == cve)
                && matches!(&f.detection.location, Location::Package(p) if p.name == package)
        })
        .unwrap_or_else(|| panic!("no finding {cve} in {package}"))
}

/// CVE ids of the KEV catalog, read independently of muster's parser.
fn kev_cves(bytes: &[u8]) -> HashSet<String> {
    let catalog: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    catalog["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["cveID"].as_str().unwrap().to_ascii_uppercase())
        .collect()
}

#[tokio::test]
async fn every_real_finding_gets_tier_owner_due_date_and_evidence() {
    let Some(kev_bytes) = sample("kev/known_exploited_vulnerabilities.json") else {
        return;
    };
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    import_examples(&pipeline).await;
    let kev = parse_kev(&kev_bytes, "kev.json").unwrap();
    import_intel(&pipeline.store, &pipeline.queue, Some(kev), None)
        .await
        .unwrap();

    let mut ingested = 0;
    for folder in ["sarif", "trivy", "grype", "snyk", "asff", "ocsf", "github_webhooks"] {
        for path in sample_files(folder).unwrap() {
            let bytes = std::fs::read(&path).unwrap();
            let source = SourceName::parse(folder.trim_end_matches("_webhooks")).unwrap();
            let result = pipeline
                .ingest(muster_core::IngestRequest {
                    source: &source,
                    format: None,
                    event: None,
                    bytes: &bytes,
                })
                .await;
            match result {
                Ok(_) => ingested += 1,
                // Webhook samples include events muster does not take (issues, pushes…).
                Err(PipelineError::Parse(error)) if folder == "github_webhooks" => {
                    eprintln!("{}: {error}", path.display());
                }
                Err(error) => panic!("{}: {error}", path.display()),
            }
            drain(&pipeline).await;
        }
    }
    assert!(ingested > 40, "only {ingested} samples ingested");

    let findings = all(&pipeline).await;
    let open: Vec<&Finding> = findings.iter().filter(|f| f.status.is_open()).collect();
    assert!(open.len() > 300, "{} open findings", open.len());
    let mut unowned = 0;
    for finding in &open {
        let triage = finding
            .triage
            .as_ref()
            .unwrap_or_else(|| panic!("{} not triaged", finding.fingerprint()));
        assert!(!triage.risk.evidence.is_empty());
        assert!(triage.due_at > finding.first_seen);
        assert!(
            triage
                .risk
                .evidence
                .iter()
                .any(|e| matches!(e.factor, Factor::Severity | Factor::Cvss) && e.contribution > 0),
            "the base is always explained"
        );
        unowned += usize::from(triage.is_unowned());
    }
    let listed = pipeline
        .store
        .list_findings(&FindingFilter {
            unowned: true,
            open_only: true,
            ..FindingFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        unowned,
        "`muster findings --unowned` lists exactly the unowned"
    );
    assert!(
        listed
            .iter()
            .all(|f| f.triage.as_ref().unwrap().owner.as_str() == "security-triage")
    );

    // Every finding whose CVE is in the catalog is P1 or P2, with KEV in its evidence.
    let catalog = kev_cves(&kev_bytes);
    let mut in_kev = 0;
    for finding in &open {
        if !finding
            .detection
            .vuln_ids
            .iter()
            .any(|id| catalog.contains(&id.to_ascii_uppercase()))
        {
            continue;
        }
        in_kev += 1;
        let risk = &finding.triage.as_ref().unwrap().risk;
        assert!(
            risk.tier <= Tier::P2,
            "{} is {} though in KEV",
            finding.fingerprint(),
            risk.tier
        );
        assert!(
            risk.evidence
                .iter()
                .any(|e| e.factor == Factor::Kev && e.source == "cisa-kev")
        );
        assert!(risk.ssvc.kev);
    }
    assert!(in_kev > 0, "the samples hold KEV CVEs (e.g. log4shell)");

    // Dependency scanners: few groups, one per package upgrade.
    let dependency: Vec<Finding> = open
        .iter()
        .filter(|f| matches!(f.detection.location, Location::Package(_)))
        .map(|f| (*f).clone())
        .collect();
    let groups = open_groups(&dependency);
    eprintln!(
        "{} open findings ({unowned} unowned, {in_kev} in KEV); {} dependency findings in {} groups",
        open.len(),
        dependency.len(),
        groups.len()
    );
    // One group per (owner, asset, package to upgrade), counted independently of the keys.
    // The samples are small reports (two findings per vulnerable package on average), so the
    // groups are ~45% of their findings; full image scans list many CVEs per package.
    let upgrades: BTreeSet<(String, String, String)> = dependency
        .iter()
        .map(|f| {
            let Location::Package(package) = &f.detection.location else {
                unreachable!()
            };
            (
                f.triage.as_ref().unwrap().owner.to_string(),
                f.asset.to_string(),
                // The source package when the scanner names one (openssl for libssl3).
                package.source.clone().unwrap_or_else(|| package.name.clone()),
            )
        })
        .collect();
    assert_eq!(
        groups.len(),
        upgrades.len(),
        "one ticket per package upgrade, not per CVE"
    );
    assert!(groups.len() < dependency.len());
    let members: usize = groups.iter().map(|g| g.open.len()).sum();
    assert_eq!(
        members,
        dependency.len(),
        "every open dependency finding is in exactly one group"
    );
}

#[tokio::test]
async fn moving_an_asset_to_the_internet_rescores_and_moves_due_dates() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    let internal = "assets:\n  - key: registry.example.com/shop/api\n    criticality: 3\n    exposure: internal\n";
    let assets = parse_assets_yaml(internal, "assets.yaml").unwrap();
    import_assets(&pipeline.store, &pipeline.queue, assets).await.unwrap();
    ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let before = all(&pipeline).await;
    let finding = find(&before, "CVE-2024-6119", "libssl3");
    let triage = finding.triage.clone().unwrap();
    assert!(
        triage
            .risk
            .evidence
            .iter()
            .any(|e| e.factor == Factor::Exposure && e.value == "internal")
    );

    let external = internal.replace("internal", "external");
    let summary = import_assets(
        &pipeline.store,
        &pipeline.queue,
        parse_assets_yaml(&external, "assets.yaml").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(summary.rescored, before.iter().filter(|f| f.status.is_open()).count());
    drain(&pipeline).await;
    let after = all(&pipeline).await;
    let moved = find(&after, "CVE-2024-6119", "libssl3");
    let now = moved.triage.as_ref().unwrap();
    assert_eq!(now.risk.score, triage.risk.score + 10, "internet-facing adds 10");
    assert!(
        now.risk
            .evidence
            .iter()
            .any(|e| e.factor == Factor::Exposure && e.value == "internet-facing")
    );
    assert!(now.risk.ssvc.exposed);
    assert_eq!(
        (triage.risk.tier, now.risk.tier),
        (Tier::P3, Tier::P2),
        "58 → 68 crosses into P2"
    );
    assert!(
        now.due_at < triage.due_at,
        "a more urgent tier brings the due date forward"
    );
    // Any finding whose tier rose has a timeline entry saying so and an earlier due date.
    let mut rose = 0;
    for finding in after.iter() {
        let was = before
            .iter()
            .find(|f| f.fingerprint() == finding.fingerprint())
            .unwrap();
        let (old, new) = (was.triage.as_ref().unwrap(), finding.triage.as_ref().unwrap());
        if new.risk.tier < old.risk.tier {
            rose += 1;
            assert!(new.due_at < old.due_at);
            assert!(finding.timeline.iter().any(|e| e.event == "due_moved"));
            assert!(finding.timeline.iter().any(|e| e.event == "rescored"));
        }
    }
    assert!(rose > 0, "at least one finding crossed a tier threshold");

    // Re-importing the same file changes nothing.
    let unchanged = all(&pipeline).await;
    import_assets(
        &pipeline.store,
        &pipeline.queue,
        parse_assets_yaml(&external, "assets.yaml").unwrap(),
    )
    .await
    .unwrap();
    drain(&pipeline).await;
    assert_eq!(all(&pipeline).await, unchanged, "the same file twice is idempotent");
}

#[tokio::test]
async fn a_cve_entering_kev_raises_the_tier_and_the_ticket_follows() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let before = find(&all(&pipeline).await, "CVE-2024-6345", "setuptools").clone();
    let old = before.triage.clone().unwrap();
    assert_eq!(old.risk.tier, Tier::P3, "0.7 × CVSS 7.5 + a known fix = 58");
    let updates_before = pipeline.store.outbox().await.unwrap().len();

    let kev = KevCatalog {
        version: Some("test".into()),
        entries: vec![muster_core::intel::KevEntry {
            cve: "CVE-2024-6345".into(),
            name: "setuptools code injection".into(),
            date_added: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            due_date: None,
            ransomware: false,
        }],
    };
    let summary = import_intel(&pipeline.store, &pipeline.queue, Some(kev), None)
        .await
        .unwrap();
    assert_eq!(
        (summary.changed_cves, summary.rescored),
        (1, 1),
        "only the findings of that CVE"
    );
    drain(&pipeline).await;

    let after = find(&all(&pipeline).await, "CVE-2024-6345", "setuptools").clone();
    let new = after.triage.clone().unwrap();
    assert_eq!(new.risk.tier, Tier::P1, "KEV adds 25 points: 83");
    assert!(new.due_at < old.due_at, "dynamic SLA: the due date follows the tier");
    assert!(after.timeline.iter().any(|e| e.event == "rescored"));
    let outbox = pipeline.store.outbox().await.unwrap();
    assert!(outbox.len() > updates_before, "the group's ticket was updated");
    let update = outbox.last().unwrap();
    assert_eq!(update.kind, "ticket");
    assert!(
        update.payload.to_string().contains("CISA KEV"),
        "the ticket shows the new evidence"
    );

    // An EPSS file in FIRST's format: the fixture's CVEs are re-scored, others untouched.
    let epss = parse_epss(&fixture("intel/epss_scores-2026-11-26.csv"), "epss.csv").unwrap();
    import_intel(&pipeline.store, &pipeline.queue, None, Some(epss))
        .await
        .unwrap();
    drain(&pipeline).await;
}

#[tokio::test]
async fn owners_and_codeowners_route_findings_and_report_the_rule() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    import_examples(&pipeline).await;
    let sarif = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep","rules":[{"id":"r1"}]}},
        "versionControlProvenance":[{"repositoryUri":"https://github.com/acme/shop-api"}],
        "results":[
          {"ruleId":"r1","level":"error","message":{"text":"a"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"services/payments/charge.py"},"region":{"startLine":3}}}]},
          {"ruleId":"r1","level":"error","message":{"text":"b"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"deploy/terraform/main.tf"},"region":{"startLine":3}}}]},
          {"ruleId":"r1","level":"error","message":{"text":"c"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"docs/readme.py"},"region":{"startLine":3}}}]},
          {"ruleId":"r1","level":"error","message":{"text":"d"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"lib/util.py"},"region":{"startLine":3}}}]}
        ]}]}"#;
    ingest_from(&pipeline, "ci", None, None, sarif.as_bytes()).await;
    let findings = all(&pipeline).await;
    let owner_of = |path: &str| {
        let finding = findings
            .iter()
            .find(|f| matches!(&f.detection.location, Location::Source { path: p, .. } if p == path))
            .unwrap_or_else(|| panic!("no finding at {path}: {findings:#?}"));
        let triage = finding.triage.as_ref().unwrap();
        (triage.owner.to_string(), triage.owner_rule.clone().unwrap_or_default())
    };
    assert_eq!(
        owner_of("services/payments/charge.py").0,
        "payments",
        "CODEOWNERS /services/payments/"
    );
    assert!(owner_of("services/payments/charge.py").1.starts_with("CODEOWNERS:"));
    assert_eq!(
        owner_of("deploy/terraform/main.tf").0,
        "platform",
        "*.tf @acme/sre is the last match"
    );
    assert_eq!(
        owner_of("docs/readme.py"),
        ("payments".into(), "shop-api-repo".into()),
        "/docs/ has no owner: falls through to the repo rule"
    );
    assert_eq!(owner_of("lib/util.py").0, "platform", "the CODEOWNERS catch-all");

    // An owners file that drops a team the imported CODEOWNERS still names is refused whole.
    let empty = parse_owners_yaml(
        "default_team: security-triage\nteams:\n  - id: security-triage\n    name: Security\n",
        "owners.yaml",
    )
    .unwrap();
    let error = import_ownership(&pipeline.store, &pipeline.queue, empty)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("CODEOWNERS"), "{error}");
    assert_eq!(
        pipeline.store.org_context().await.unwrap().ownership.teams.len(),
        4,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_tie_between_equally_specific_rules_is_refused_and_nothing_changes() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let before = all(&pipeline).await;
    let owners = "teams:\n  - {id: a, name: A}\n  - {id: b, name: B}\nrules:\n  - {name: one, team: a, asset_glob: \"registry.example.com/shop/*\"}\n  - {name: two, team: b, asset_glob: \"registry.example.com/*/api:*\"}\n";
    let error = import_ownership(
        &pipeline.store,
        &pipeline.queue,
        parse_owners_yaml(owners, "owners.yaml").unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("one") && error.contains("two"), "{error}");
    assert!(pipeline.store.org_context().await.unwrap().ownership.teams.is_empty());
    drain(&pipeline).await;
    assert_eq!(all(&pipeline).await, before);
}

#[tokio::test]
async fn a_risk_acceptance_pauses_the_clock_and_its_expiry_reopens() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let finding = find(&all(&pipeline).await, "CVE-2024-6345", "setuptools").clone();
    let accepted = accept_risk(
        &pipeline.store,
        &pipeline.clock,
        finding.fingerprint(),
        at("2026-12-31T23:59:59Z"),
        "compensated by egress filtering",
        Some("sec-lead"),
    )
    .await
    .unwrap();
    assert_eq!(accepted.status, Status::RiskAccepted);
    assert!(accepted.status.is_open(), "the ticket stays open");

    // A month later triage runs again: the acceptance ended, the clock restarts at its end.
    let later = Pipeline {
        store: pipeline.store.clone(),
        queue: pipeline.queue.clone(),
        tickets: pipeline.tickets.clone(),
        chat: pipeline.chat.clone(),
        clock: FixedClock(at("2027-01-05T00:00:00Z")),
        config: Arc::new(Config::default()),
    };
    // Before the end nothing is due for review; after it, the scheduled review finds it.
    assert_eq!(
        review_acceptances(&pipeline.store, &pipeline.queue, &pipeline.clock)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        review_acceptances(&later.store, &later.queue, &later.clock)
            .await
            .unwrap(),
        1
    );
    let drained = later.queue.drain(&later, |_, _| {}).await;
    assert_eq!(drained.dead_lettered, 0);
    let reopened = later.store.findings(&[finding.fingerprint()]).await.unwrap().remove(0);
    assert_eq!(reopened.status, Status::Reopened);
    let triage = reopened.triage.as_ref().unwrap();
    assert_eq!(triage.clock_start, at("2026-12-31T23:59:59Z"));
    let days = i64::from(Config::default().sla.days(triage.risk.tier));
    assert_eq!(triage.due_at, at("2026-12-31T23:59:59Z") + chrono::Duration::days(days));
    let events: Vec<&str> = reopened.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        ["sla_started", "risk_accepted", "acceptance_expired", "due_moved"]
    );

    // Accepting a resolved finding is refused.
    let mut resolved = reopened.clone();
    resolved.status = Status::Resolved;
    later.store.save_findings(&[resolved]).await.unwrap();
    let error = accept_risk(
        &later.store,
        &later.clock,
        finding.fingerprint(),
        at("2027-02-01T00:00:00Z"),
        "x",
        None,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("only open findings"), "{error}");
}

#[tokio::test]
async fn the_bod_26_04_policy_sets_due_dates_from_its_table() {
    let mut pipeline = pipeline_at("2026-11-20T10:00:00Z");
    pipeline.config = Arc::new(Config::from_toml("[scoring]\npolicy = \"bod-26-04\"\n", "muster.toml").unwrap());
    let assets = "assets:\n  - key: registry.example.com/shop/api\n    criticality: 2\n    exposure: internal\n";
    import_assets(
        &pipeline.store,
        &pipeline.queue,
        parse_assets_yaml(assets, "assets.yaml").unwrap(),
    )
    .await
    .unwrap();
    ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    let decisions: BTreeSet<(Remediation, Tier, i64)> = all(&pipeline)
        .await
        .iter()
        .map(|f| {
            let t = f.triage.as_ref().unwrap();
            (
                t.risk.ssvc.remediation,
                t.risk.tier,
                (t.due_at - f.first_seen).num_days(),
            )
        })
        .collect();
    for (remediation, tier, days) in &decisions {
        let expected = match remediation {
            Remediation::Days3 | Remediation::Days3Forensics => (Tier::P1, 3),
            Remediation::Days14 => (Tier::P2, 14),
            Remediation::Days60 => (Tier::P3, 60),
            Remediation::NextUpgrade => (Tier::P4, 180),
        };
        assert_eq!((*tier, *days), expected, "{remediation:?}");
    }
    assert!(
        decisions.iter().all(|(r, _, _)| *r < Remediation::Days3),
        "internal and not in KEV: never the 3-day rows"
    );
}
