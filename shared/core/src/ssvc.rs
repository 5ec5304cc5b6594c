//! The CISA BOD 26-04 decision: four SSVC questions → a remediation timeline.
//!
//! Inputs: is the asset publicly exposed, is the CVE in KEV, can exploitation be automated,
//! does it give total (not partial) control. Automatable and technical impact come from the
//! CVSS vector when the report carries one (network, low complexity, no privileges, no user
//! interaction = automatable; high confidentiality and integrity impact = total); without one
//! both are assumed yes, as the directive's guidance asks ("assume it is automatable"), and
//! the decision says so.
//!
//! The table (`decide`) is muster's encoding of the directive's Table 1. It is data, one row
//! per combination, so it can be checked line by line against the directive.

use crate::model::{Cvss, Remediation, SsvcDecision, Tier};

/// The 16 rows: (exposed, kev, automatable, total impact) → timeline.
const TABLE: [((bool, bool, bool, bool), Remediation); 16] = {
    use Remediation::*;
    [
        ((true, true, true, true), Days3Forensics),
        ((true, true, true, false), Days3),
        ((true, true, false, true), Days3),
        ((true, true, false, false), Days14),
        ((false, true, true, true), Days14),
        ((false, true, true, false), Days14),
        ((false, true, false, true), Days14),
        ((false, true, false, false), Days60),
        ((true, false, true, true), Days14),
        ((true, false, true, false), Days60),
        ((true, false, false, true), Days60),
        ((true, false, false, false), NextUpgrade),
        ((false, false, true, true), Days60),
        ((false, false, true, false), NextUpgrade),
        ((false, false, false, true), NextUpgrade),
        ((false, false, false, false), NextUpgrade),
    ]
};

/// Looks a combination up in the table.
pub fn decide(exposed: bool, kev: bool, automatable: bool, total_impact: bool) -> Remediation {
    TABLE
        .iter()
        .find(|(inputs, _)| *inputs == (exposed, kev, automatable, total_impact))
        .map(|(_, remediation)| *remediation)
        .expect("the table covers all 16 combinations")
}

/// What a CVSS vector says about automation and impact; `None` when it has no vector or the
/// vector lacks the metrics.
pub fn from_vector(cvss: &Cvss) -> Option<(bool, bool)> {
    let vector = cvss.vector.as_deref()?;
    let metric = |name: &str| {
        vector
            .split('/')
            .find_map(|part| part.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
    };
    let automatable = metric("AV")? == "N"
        && metric("AC")? == "L"
        && metric("PR")? == "N"
        && metric("UI")? == "N"
        && metric("AT").is_none_or(|at| at == "N");
    let high = |v3: &str, v4: &str| metric(v3).or_else(|| metric(v4)) == Some("H");
    let total = high("C", "VC") && high("I", "VI");
    Some((automatable, total))
}

/// The decision for one finding, given exposure (`None` = unknown) and KEV status.
pub fn assess(exposed: Option<bool>, kev: bool, cvss: Option<&Cvss>) -> SsvcDecision {
    let mut assumed = Vec::new();
    let exposed = exposed.unwrap_or_else(|| {
        assumed.push("publicly exposed (asset not in the assets file)".to_owned());
        true
    });
    let (automatable, total_impact) = cvss.and_then(from_vector).unwrap_or_else(|| {
        assumed.push("automatable and total impact (no CVSS vector)".to_owned());
        (true, true)
    });
    SsvcDecision {
        exposed,
        kev,
        automatable,
        total_impact,
        assumed,
        remediation: decide(exposed, kev, automatable, total_impact),
    }
}

/// Tier and days a timeline means when BOD 26-04 is the selected policy.
pub fn tier_and_days(remediation: Remediation, next_upgrade_days: u32) -> (Tier, u32) {
    match remediation {
        Remediation::Days3Forensics | Remediation::Days3 => (Tier::P1, 3),
        Remediation::Days14 => (Tier::P2, 14),
        Remediation::Days60 => (Tier::P3, 60),
        Remediation::NextUpgrade => (Tier::P4, next_upgrade_days),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Remediation::*;

    #[test]
    fn table_rows_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for (inputs, _) in TABLE {
            assert!(seen.insert(inputs), "row {inputs:?} twice");
        }
        assert_eq!(seen.len(), 16);
    }

    #[test]
    fn each_policy_row() {
        // exposed, kev, automatable, total → timeline; one assertion per row of the table.
        let rows = [
            ((true, true, true, true), Days3Forensics),
            ((true, true, true, false), Days3),
            ((true, true, false, true), Days3),
            ((true, true, false, false), Days14),
            ((false, true, true, true), Days14),
            ((false, true, true, false), Days14),
            ((false, true, false, true), Days14),
            ((false, true, false, false), Days60),
            ((true, false, true, true), Days14),
            ((true, false, true, false), Days60),
            ((true, false, false, true), Days60),
            ((true, false, false, false), NextUpgrade),
            ((false, false, true, true), Days60),
            ((false, false, true, false), NextUpgrade),
            ((false, false, false, true), NextUpgrade),
            ((false, false, false, false), NextUpgrade),
        ];
        for ((exposed, kev, automatable, total), expected) in rows {
            assert_eq!(
                decide(exposed, kev, automatable, total),
                expected,
                "{exposed} {kev} {automatable} {total}"
            );
        }
    }

    #[test]
    fn more_risk_never_means_more_time() {
        for bits in 0..16u8 {
            let inputs = [bits & 8 != 0, bits & 4 != 0, bits & 2 != 0, bits & 1 != 0];
            let base = decide(inputs[0], inputs[1], inputs[2], inputs[3]);
            for flip in 0..4 {
                if inputs[flip] {
                    continue;
                }
                let mut worse = inputs;
                worse[flip] = true;
                assert!(
                    decide(worse[0], worse[1], worse[2], worse[3]) >= base,
                    "{inputs:?} → {worse:?}"
                );
            }
        }
    }

    #[test]
    fn vectors_answer_automation_and_impact() {
        let v3 = |vector: &str| Cvss::new(9.8, Some(vector.to_owned()), None);
        assert_eq!(
            from_vector(&v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")),
            Some((true, true))
        );
        assert_eq!(
            from_vector(&v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H")),
            Some((false, true))
        );
        assert_eq!(
            from_vector(&v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")),
            Some((true, false))
        );
        assert_eq!(
            from_vector(&v3("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")),
            Some((true, true))
        );
        assert_eq!(
            from_vector(&v3("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")),
            Some((false, true))
        );
        assert_eq!(from_vector(&Cvss::new(5.0, None, None)), None);
    }

    #[test]
    fn unknown_inputs_are_assumed_the_worse_way_and_named() {
        let decision = assess(None, true, None);
        assert_eq!(decision.remediation, Days3Forensics);
        assert_eq!(decision.assumed.len(), 2);
        let known = assess(
            Some(false),
            false,
            Some(&Cvss::new(
                5.0,
                Some("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:N".into()),
                None,
            )),
        );
        assert_eq!(known.remediation, NextUpgrade);
        assert!(known.assumed.is_empty());
    }
}
