//! One problem, many reporters: scanners of different vendors and formats describing the same
//! vulnerable package in the same asset land as one finding with every reporter recorded, and
//! event sources (GitHub alerts, Security Hub) move a finding through its lifecycle.

use muster_core::ports::{FindingFilter, FindingStore};
use muster_core::{Finding, Format, Location, Status};
use muster_tests::{TestPipeline, at, fixture, ingest_from, pipeline_at, sample};

async fn all_findings(pipeline: &TestPipeline) -> Vec<Finding> {
    pipeline.store.list_findings(&FindingFilter::default()).await.unwrap()
}

fn package_of(finding: &Finding) -> (&str, &str) {
    let Location::Package(package) = &finding.detection.location else {
        panic!("not a package finding: {:?}", finding.detection.location);
    };
    (finding.detection.vuln_ids[0].as_str(), package.name.as_str())
}

/// The finding for (a vulnerability id any of its ids match, package).
fn find<'f>(findings: &'f [Finding], vuln: &str, package: &str) -> &'f Finding {
    let matching: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.detection.vuln_ids.iter().any(|id| id == vuln)
                && matches!(&f.detection.location, Location::Package(p) if p.name == package)
        })
        .collect();
    assert_eq!(matching.len(), 1, "{vuln} in {package}: {matching:#?}");
    matching[0]
}

#[tokio::test]
async fn trivy_and_grype_reports_of_one_image_are_one_finding_per_vulnerable_package() {
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");

    // GIVEN Trivy's report of an image: 4 vulnerable (CVE, package) pairs
    let trivy = ingest_from(&pipeline, "ci", None, None, &fixture("trivy-shop-api.json")).await;
    assert_eq!((trivy.received, trivy.new), (4, 4));

    // WHEN Grype reports the same image: two pairs Trivy saw (one under its GHSA id, with the
    // CVE as a related id) and one Trivy did not
    let grype = ingest_from(&pipeline, "ci", None, None, &fixture("grype-shop-api.json")).await;

    // THEN only the pair Trivy missed is new; the two shared ones gain a second reporter
    assert_eq!((grype.received, grype.new, grype.updated), (3, 1, 2), "{grype:?}");
    let findings = all_findings(&pipeline).await;
    assert_eq!(findings.len(), 5);
    let shared = find(&findings, "CVE-2024-5535", "libssl3");
    assert_eq!(shared.seen_by.len(), 2, "{:?}", shared.seen_by);
    assert!(shared.seen_by.iter().any(|s| s.as_str().contains("|Trivy|")));
    assert!(shared.seen_by.iter().any(|s| s.as_str().contains("|grype|")));
    assert_eq!(find(&findings, "CVE-2024-6345", "setuptools").seen_by.len(), 2);

    // AND the same CVE in another package, or in another image, stays apart
    assert_eq!(find(&findings, "CVE-2024-5535", "libcrypto3").seen_by.len(), 1);
    let worker = ingest_from(&pipeline, "ci", None, None, &fixture("grype-worker.json")).await;
    assert_eq!((worker.new, worker.updated), (1, 0));
    let findings = all_findings(&pipeline).await;
    let libssl: Vec<&Finding> = findings
        .iter()
        .filter(|f| package_of(f) == ("CVE-2024-5535", "libssl3"))
        .collect();
    assert_eq!(libssl.len(), 2, "one per image");
    assert_ne!(libssl[0].asset, libssl[1].asset);
}

#[tokio::test]
async fn a_finding_stays_open_until_no_scanner_sees_it() {
    let mut pipeline = pipeline_at("2026-11-20T10:00:00Z");
    let trivy_report = fixture("trivy-shop-api.json");
    ingest_from(&pipeline, "ci", None, None, &trivy_report).await;
    let grype_report = fixture("grype-shop-api.json");
    ingest_from(&pipeline, "ci", None, None, &grype_report).await;

    // Trivy's next scan no longer lists CVE-2024-5535 in libssl3 (say, a DB gap)...
    let mut rescan: serde_json::Value = serde_json::from_slice(&trivy_report).unwrap();
    rescan["Results"][0]["Vulnerabilities"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    pipeline.clock = muster_core::ports::FixedClock(at("2026-11-21T10:00:00Z"));
    let summary = ingest_from(&pipeline, "ci", None, None, &serde_json::to_vec(&rescan).unwrap()).await;
    assert_eq!(summary.resolved, 0, "Grype still sees it");
    let findings = all_findings(&pipeline).await;
    let finding = find(&findings, "CVE-2024-5535", "libssl3");
    assert!(finding.status.is_open());
    assert_eq!(finding.seen_by.len(), 1);

    // ...and once Grype stops seeing it too, it is resolved.
    let mut rescan: serde_json::Value = serde_json::from_slice(&grype_report).unwrap();
    rescan["matches"].as_array_mut().unwrap().remove(0);
    let summary = ingest_from(&pipeline, "ci", None, None, &serde_json::to_vec(&rescan).unwrap()).await;
    assert_eq!(summary.resolved, 1);
    let findings = all_findings(&pipeline).await;
    assert_eq!(find(&findings, "CVE-2024-5535", "libssl3").status, Status::Resolved);
}

/// A real pair: Trivy's JSON and its Security Hub (ASFF) output for one image.
#[tokio::test]
async fn trivy_json_and_its_security_hub_findings_are_the_same_findings() {
    let (Some(json), Some(asff)) = (
        sample("trivy/trivy_alpine-310.json"),
        sample("asff/trivy_alpine-310.asff.json"),
    ) else {
        return;
    };
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    let first = ingest_from(&pipeline, "ci", Some(Format::Trivy), None, &json).await;
    assert!(first.new > 0);

    let second = ingest_from(&pipeline, "securityhub", Some(Format::Asff), None, &asff).await;

    assert_eq!(second.received, first.received);
    assert_eq!(
        second.new, 0,
        "every Security Hub finding is one Trivy already reported"
    );
    let findings = all_findings(&pipeline).await;
    assert_eq!(findings.len() as u64, first.new);
    assert!(findings.iter().all(|f| f.seen_by.len() == 2), "{findings:#?}");
}

#[tokio::test]
async fn github_alert_events_move_one_finding_through_its_lifecycle() {
    let (Some(created), Some(fixed)) = (
        sample("github_webhooks/github_code_scanning_alert_created.payload.json"),
        sample("github_webhooks/github_code_scanning_alert_fixed.payload.json"),
    ) else {
        return;
    };
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    let event = Some("code_scanning_alert");

    let opened = ingest_from(&pipeline, "github", Some(Format::Github), event, &created).await;
    assert_eq!((opened.received, opened.new), (1, 1));

    let closed = ingest_from(&pipeline, "github", Some(Format::Github), event, &fixed).await;
    assert_eq!(
        (closed.new, closed.resolved),
        (0, 1),
        "the fix resolves the same finding"
    );
    let findings = all_findings(&pipeline).await;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].status, Status::Resolved);

    // One event never resolves other findings of the repository: a delivery is not a full scan.
    let mut reopened: serde_json::Value = serde_json::from_slice(&created).unwrap();
    reopened["action"] = "reopened".into();
    let again = ingest_from(
        &pipeline,
        "github",
        Some(Format::Github),
        event,
        &serde_json::to_vec(&reopened).unwrap(),
    )
    .await;
    assert_eq!((again.new, again.updated), (0, 1));
    assert_eq!(all_findings(&pipeline).await[0].status, Status::Reopened);
}

#[tokio::test]
async fn an_archived_security_hub_event_resolves_its_finding_and_leaves_others() {
    let (Some(new), Some(archived), Some(other)) = (
        sample("asff/eventbridge_imported_new_notautomated.template.json"),
        sample("asff/eventbridge_imported_archived_existing.template.json"),
        sample("asff/eventbridge_CIS-1.4.json"),
    ) else {
        return;
    };
    let pipeline = pipeline_at("2026-11-20T10:00:00Z");
    ingest_from(&pipeline, "securityhub", None, None, &other).await;
    let opened = ingest_from(&pipeline, "securityhub", None, None, &new).await;
    assert_eq!(opened.new, 1);

    let summary = ingest_from(&pipeline, "securityhub", None, None, &archived).await;

    assert_eq!((summary.new, summary.resolved), (0, 1));
    let findings = all_findings(&pipeline).await;
    assert_eq!(findings.len(), 2);
    assert_eq!(
        findings.iter().filter(|f| f.status.is_open()).count(),
        1,
        "the CIS finding from another event stays open"
    );
}
