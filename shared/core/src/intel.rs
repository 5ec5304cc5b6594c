//! Threat intel feeds: the CISA Known Exploited Vulnerabilities catalog (JSON as CISA publishes
//! it, and its CSV form) and FIRST's daily EPSS scores (CSV).
//!
//! Parsing only; fetching lives in `muster-feeds` and storage behind the `IntelStore` port.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::import::ImportError;

/// One KEV catalog entry: this CVE is exploited in the wild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    /// Upper-case `CVE-YYYY-NNNN`.
    pub cve: String,
    pub name: String,
    pub date_added: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    /// `knownRansomwareCampaignUse` is "Known".
    pub ransomware: bool,
}

/// The whole catalog as one file carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KevCatalog {
    /// `catalogVersion` (JSON only).
    pub version: Option<String>,
    pub entries: Vec<KevEntry>,
}

/// One EPSS row: probability of exploitation activity in the next 30 days, and its percentile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    pub cve: String,
    pub probability: f32,
    pub percentile: f32,
}

/// A daily EPSS file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EpssFile {
    /// From the `#model_version:…,score_date:…` comment line.
    pub model_version: Option<String>,
    pub score_date: Option<NaiveDate>,
    pub scores: Vec<EpssScore>,
}
