//! The finding model every stage shares (DESIGN §3).
//!
//! Values here are parsed at the edge and valid by construction: a `Fingerprint`, `AssetKey`,
//! `TeamId` or `Severity` in hand never needs re-checking. No I/O happens in this module.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value from outside (a report, a config file, a CLI flag) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct InvalidValue {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl InvalidValue {
    fn new(what: &'static str, value: &str, reason: &'static str) -> Self {
        Self {
            what,
            value: value.chars().take(80).collect(),
            reason,
        }
    }
}

/// Implements `Display`, `FromStr` and string serde for a type with `parse` and `as_str`.
macro_rules! string_codec {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Normalized severity; ordered so that `Critical > High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Accepts the names scanners use (`error`, `moderate`, `negligible`, …) case-insensitively.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "critical" | "crit" => Self::Critical,
            "high" | "error" | "important" => Self::High,
            "medium" | "moderate" | "warning" | "warn" => Self::Medium,
            "low" | "note" | "minor" => Self::Low,
            "info" | "informational" | "none" | "negligible" | "unknown" => Self::Info,
            _ => {
                return Err(InvalidValue::new(
                    "severity",
                    text,
                    "expected critical, high, medium, low or info",
                ));
            }
        })
    }

    /// CVSS v3/v4 qualitative rating of a base score (FIRST's table).
    pub fn from_cvss(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }
}
string_codec!(Severity);

/// Priority tier; `P1` is the most urgent and sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    P1,
    P2,
    P3,
    P4,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::P1, Tier::P2, Tier::P3, Tier::P4];

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text.trim().to_ascii_uppercase().as_str() {
            "P1" => Ok(Self::P1),
            "P2" => Ok(Self::P2),
            "P3" => Ok(Self::P3),
            "P4" => Ok(Self::P4),
            _ => Err(InvalidValue::new("tier", text, "expected P1, P2, P3 or P4")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
            Self::P4 => "P4",
        }
    }
}
string_codec!(Tier);

/// What sort of problem a finding is; decides how it is fingerprinted and grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Code,
    Dependency,
    Container,
    Cloud,
    Secret,
    Other,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Dependency => "dependency",
            Self::Container => "container",
            Self::Cloud => "cloud",
            Self::Secret => "secret",
            Self::Other => "other",
        }
    }
}

/// Lifecycle of a finding. `Suppressed` is a resolution the scanner itself reported
/// (an accepted in-source or external suppression), kept apart from a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    Acknowledged,
    RiskAccepted,
    Resolved,
    Reopened,
    Suppressed,
}

impl Status {
    /// Open statuses are the ones that keep a ticket open and an SLA clock running.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Open | Self::Acknowledged | Self::RiskAccepted | Self::Reopened
        )
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "open" => Self::Open,
            "acknowledged" => Self::Acknowledged,
            "risk_accepted" => Self::RiskAccepted,
            "resolved" => Self::Resolved,
            "reopened" => Self::Reopened,
            "suppressed" => Self::Suppressed,
            _ => {
                return Err(InvalidValue::new(
                    "status",
                    text,
                    "expected open, acknowledged, risk_accepted, resolved, reopened or suppressed",
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::RiskAccepted => "risk_accepted",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::Suppressed => "suppressed",
        }
    }
}
string_codec!(Status);

/// Stable identity of one problem at one place: 128 bits of a SHA-256 over what identifies it
/// (DESIGN §4), never over report bytes. Shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| InvalidValue::new("fingerprint", text, "expected 32 hex digits"))?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The lowercase hex form, written on the stack: formatting it byte by byte through `fmt`
    /// showed in the profile of saving every finding (its JSON body carries it).
    fn with_hex<R>(&self, use_hex: impl FnOnce(&str) -> R) -> R {
        let mut text = [0_u8; 32];
        hex::encode_to_slice(self.0, &mut text).expect("32 bytes hold 16 bytes in hex");
        use_hex(std::str::from_utf8(&text).expect("hex digits are ASCII"))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_hex(|hex| f.write_str(hex))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_hex(|hex| serializer.serialize_str(hex))
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Defines a validated string newtype with `parse`, `as_str`, `Display`, `FromStr` and serde.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $valid:expr, $reason:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, InvalidValue> {
                let text = text.trim();
                let valid: fn(char) -> bool = $valid;
                if text.is_empty() {
                    return Err(InvalidValue::new($what, text, "must not be empty"));
                }
                if text.len() > $max {
                    return Err(InvalidValue::new($what, text, "is too long"));
                }
                if !text.chars().all(valid) {
                    return Err(InvalidValue::new($what, text, $reason));
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        string_codec!($name);
    };
}

text_id!(
    /// What a finding lives in: `github.com/org/repo`, `registry/name` of an image, an AWS ARN, a host.
    AssetKey,
    "asset key",
    1024,
    |c| !c.is_control() && !c.is_whitespace(),
    "must not contain spaces or control characters"
);

text_id!(
    /// A team that owns assets and receives tickets and chat messages.
    TeamId,
    "team id",
    128,
    |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
    "use letters, digits, '-', '_' or '.'"
);

text_id!(
    /// A configured webhook source (`POST /webhooks/{source}`); also the CLI's `--source`.
    SourceName,
    "source name",
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
    "use letters, digits, '-', '_' or '.'"
);

/// Identity of a remediation group: one owner, one asset, one fix
/// (`security/github.com/org/repo/rule:js/xss` or `…/pkg:openssl`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupKey(String);

impl GroupKey {
    pub fn new(owner: &TeamId, asset: &AssetKey, fix_target: &str) -> Self {
        Self(format!("{owner}/{asset}/{fix_target}"))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let text = text.trim();
        if text.is_empty() || text.len() > 2048 || text.chars().any(char::is_control) {
            return Err(InvalidValue::new("group key", text, "expected OWNER/ASSET/TARGET"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The target one scan looked at (`source|tool|asset`). A later run of the same scope that no
/// longer reports a fingerprint resolves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeKey(String);

impl ScopeKey {
    pub fn new(source: &SourceName, tool: &str, asset: &AssetKey) -> Self {
        Self(format!("{source}|{tool}|{asset}"))
    }

    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scanner that produced a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A CVSS base score with its vector, as one source (NVD, the vendor, GHSA…) rated it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// `2.0`, `3.0`, `3.1`, `4.0`; taken from the vector when the scanner does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Who rated it (`nvd`, `redhat`, `ghsa`…), when the scanner says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Cvss {
    /// A score with its vector; the version comes from a `CVSS:x.y/` prefix, else `None`
    /// (CVSS v2 vectors carry no prefix).
    pub fn new(score: f32, vector: Option<String>, source: Option<String>) -> Self {
        let version = vector
            .as_deref()
            .and_then(|v| v.strip_prefix("CVSS:"))
            .and_then(|v| v.split('/').next())
            .map(str::to_owned);
        Self {
            score,
            vector,
            version,
            source,
        }
    }

    fn major_version(&self) -> u32 {
        self.version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(2)
    }
}

/// Exploit prediction (FIRST EPSS) for a finding's CVE, as a scanner or the intel feed gave it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Epss {
    /// Probability of exploitation activity in the next 30 days, 0–1.
    pub probability: f32,
    /// Rank among all scored CVEs, 0–1.
    pub percentile: f32,
}

/// What the report says about a detection's state. Full scans say `Open` or `Suppressed`;
/// event sources (GitHub alerts, Security Hub) also report `Resolved` for fixed or dismissed
/// alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reported {
    #[default]
    Open,
    /// An accepted suppression: recorded, not open.
    Suppressed,
    /// The source says it is fixed, dismissed or archived.
    Resolved,
}

impl Reported {
    fn is_open(&self) -> bool {
        *self == Self::Open
    }
}

/// Where in the asset the problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Location {
    /// A file in a repository (the repository is the asset).
    Source {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
    /// A package inside an image, lock file or host (boxed: most findings are not packages,
    /// and a detection should stay small when a report holds hundreds of thousands).
    Package(Box<PackageLocation>),
    /// A cloud resource (ARN or provider id).
    Resource { id: String },
    /// The scanner named no place more precise than the asset.
    Unspecified,
}

/// Where a vulnerable package sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageLocation {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The lowest version that fixes it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Lock file, jar or image layer target the package was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The source package it was built from, when the scanner names one that differs
    /// (`openssl` for `libssl3`): one upgrade of the source fixes all its binary packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source { path, line: Some(line) } => write!(f, "{path}:{line}"),
            Self::Source { path, line: None } => f.write_str(path),
            Self::Package(package) => match &package.version {
                Some(version) => write!(f, "{}@{version}", package.name),
                None => f.write_str(&package.name),
            },
            Self::Resource { id } => f.write_str(id),
            Self::Unspecified => f.write_str("-"),
        }
    }
}

/// One problem as one report states it: the facts, without lifecycle. Rule-level text is
/// shared (`Arc<str>`) because thousands of results of one rule repeat it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub fingerprint: Fingerprint,
    pub kind: FindingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vuln_ids: Vec<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Arc<str>>,
    pub severity: Severity,
    /// Every CVSS rating the report carries, by source and version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epss: Option<Epss>,
    /// The report says the vulnerability is in CISA's Known Exploited Vulnerabilities catalog.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kev: bool,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<Arc<str>>,
    /// Supporting facts a reader needs: dependency paths, resource details, dismissal notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Reported::is_open")]
    pub reported: Reported,
    /// Why the source resolved or suppressed it (`false_positive`, `won't fix`, `ARCHIVED`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Detection {
    /// A detection with the facts every format has; parsers fill in the rest field by field.
    pub fn new(
        fingerprint: Fingerprint,
        kind: FindingKind,
        title: String,
        severity: Severity,
        location: Location,
    ) -> Self {
        Self {
            fingerprint,
            kind,
            rule_id: None,
            vuln_ids: Vec::new(),
            title,
            description: None,
            severity,
            cvss: Vec::new(),
            epss: None,
            kev: false,
            location,
            fix: None,
            help_uri: None,
            evidence: Vec::new(),
            reported: Reported::Open,
            reason: None,
        }
    }

    /// Hash of everything a re-scan could change about the detection; equal hashes mean a
    /// re-seen finding needs no write.
    pub fn content_hash(&self) -> [u8; 16] {
        let mut hash = crate::fingerprint::FingerprintBuilder::new("content/v1");
        hash.bytes(self.fingerprint.as_bytes())
            .part(self.kind.as_str())
            .part(self.rule_id.as_deref().unwrap_or(""));
        for id in &self.vuln_ids {
            hash.part(id);
        }
        hash.part(&self.title)
            .part(self.description.as_deref().unwrap_or(""))
            .part(self.severity.as_str());
        for cvss in &self.cvss {
            hash.bytes(&cvss.score.to_le_bytes())
                .part(cvss.vector.as_deref().unwrap_or(""))
                .part(cvss.source.as_deref().unwrap_or(""));
        }
        if let Some(epss) = &self.epss {
            hash.bytes(&epss.probability.to_le_bytes())
                .bytes(&epss.percentile.to_le_bytes());
        }
        hash.part(&self.location.to_string());
        if let Location::Package(package) = &self.location {
            hash.part(package.fixed_version.as_deref().unwrap_or(""))
                .part(package.path.as_deref().unwrap_or(""));
        }
        hash.part(self.fix.as_deref().unwrap_or(""))
            .part(self.help_uri.as_deref().unwrap_or(""));
        for line in &self.evidence {
            hash.part(line);
        }
        hash.bytes(&[u8::from(self.kev), self.reported as u8])
            .part(self.reason.as_deref().unwrap_or(""));
        *hash.finish().as_bytes()
    }

    /// The rating to score by: the newest CVSS version, and within it the highest score.
    pub fn best_cvss(&self) -> Option<&Cvss> {
        self.cvss.iter().max_by(|a, b| {
            (a.major_version(), a.score)
                .partial_cmp(&(b.major_version(), b.score))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    }

    pub fn is_open(&self) -> bool {
        self.reported.is_open()
    }
}

/// Everything one tool reported about one asset in one report: the unit of diffing.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub tool: Tool,
    pub asset: AssetKey,
    pub detections: Vec<Detection>,
    /// A full scan lists everything the tool sees, so what it no longer lists is resolved.
    /// Event sources (one GitHub alert, one Security Hub event) are not complete: they change
    /// only the findings they name.
    pub complete: bool,
}

/// A factor of the risk score; `muster explain` and tickets show them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    Severity,
    Cvss,
    Kev,
    Ransomware,
    Epss,
    Exposure,
    Criticality,
    Environment,
    Control,
    Fix,
    /// A KEV entry lifts the tier to at least the configured floor, whatever the score.
    KevFloor,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Severity => "severity",
            Self::Cvss => "cvss",
            Self::Kev => "kev",
            Self::Ransomware => "ransomware",
            Self::Epss => "epss",
            Self::Exposure => "exposure",
            Self::Criticality => "criticality",
            Self::Environment => "environment",
            Self::Control => "control",
            Self::Fix => "fix",
            Self::KevFloor => "kev_floor",
        }
    }
}

/// One reason behind a score: the factor, what it said, the points it added (or took away)
/// and where the fact came from (a scanner, the KEV catalog, the assets file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub factor: Factor,
    pub value: String,
    pub contribution: i16,
    pub source: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.factor.as_str(), self.value)?;
        if self.contribution != 0 {
            write!(f, " ({:+})", self.contribution)?;
        }
        Ok(())
    }
}

/// CISA BOD 26-04 remediation timeline of an SSVC decision, most urgent last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remediation {
    /// Defer to the next scheduled upgrade of the asset.
    NextUpgrade,
    Days60,
    Days14,
    Days3,
    /// Three days, and forensic triage: assume the asset may already be compromised.
    Days3Forensics,
}

impl Remediation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NextUpgrade => "fix on next upgrade",
            Self::Days60 => "fix within 60 days",
            Self::Days14 => "fix within 14 days",
            Self::Days3 => "fix within 3 days",
            Self::Days3Forensics => "fix within 3 days + forensic triage",
        }
    }
}

/// The SSVC inputs BOD 26-04 decides on, and the decision. Inputs the data could not answer
/// are assumed the worse way and named in `assumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsvcDecision {
    pub exposed: bool,
    pub kev: bool,
    pub automatable: bool,
    /// Exploitation gives total control of the asset (else partial).
    pub total_impact: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<String>,
    pub remediation: Remediation,
}

/// Why a finding matters and how urgently: score, tier and the evidence behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub score: u8,
    pub tier: Tier,
    pub evidence: Vec<Evidence>,
    /// The BOD 26-04 / SSVC decision, reported whichever policy sets the tier.
    pub ssvc: SsvcDecision,
}

/// What triage decided for a finding: risk, owner, remediation group and SLA due date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub risk: Risk,
    pub owner: TeamId,
    /// The ownership rule that chose the owner; `None` means the default team got it because
    /// no rule did (an unowned finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_rule: Option<String>,
    pub group: GroupKey,
    /// When the SLA clock started: first seen, or when an expired risk acceptance restarted it.
    #[serde(with = "crate::timestamp")]
    pub clock_start: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub due_at: DateTime<Utc>,
}

impl Triage {
    pub fn is_unowned(&self) -> bool {
        self.owner_rule.is_none()
    }
}

/// One change in a finding's life, for `muster explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
    pub event: String,
    pub detail: String,
}

/// A risk acceptance: the SLA clock pauses until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub until: DateTime<Utc>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A problem tracked over time: the latest detection plus its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub detection: Detection,
    pub tool: Tool,
    pub asset: AssetKey,
    /// Scopes whose latest run still reports this finding; empty means nobody sees it.
    pub seen_by: Vec<ScopeKey>,
    pub status: Status,
    #[serde(with = "crate::timestamp")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::timestamp::option")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Boxed, like the acceptance: a 200k-finding report is diffed before anything is
    /// triaged, and inline these would add ~150 bytes to every finding in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Box<Triage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<Box<Acceptance>>,
    /// Overrides `first_seen` as the SLA clock's start (after an acceptance expired).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::timestamp::option")]
    pub clock_start: Option<DateTime<Utc>>,
    /// Someone of the owning team said "not mine": the finding goes to `to` while the
    /// ownership rules still name `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerouted: Option<Reroute>,
    /// Oldest first; bounded (see `push_timeline`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
}

impl Finding {
    pub fn fingerprint(&self) -> Fingerprint {
        self.detection.fingerprint
    }

    pub fn group(&self) -> Option<&GroupKey> {
        self.triage.as_ref().map(|t| &t.group)
    }

    /// Records a change; beyond `MAX_TIMELINE` entries the oldest after the first go, so the
    /// clock's start is always kept.
    pub fn push_timeline(&mut self, at: DateTime<Utc>, event: &str, detail: String) {
        const MAX_TIMELINE: usize = 64;
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(1);
        }
        self.timeline.push(TimelineEntry {
            at,
            event: event.to_owned(),
            detail,
        });
    }
}

/// A scan of one scope at one time, with the set of fingerprints it reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRun {
    pub id: String,
    pub scope: ScopeKey,
    pub at: DateTime<Utc>,
    pub received: u64,
    /// Hash over the sorted (fingerprint, content hash) pairs: equal digests mean nothing changed.
    pub digest: [u8; 16],
    /// Sorted and unique.
    pub fingerprints: Vec<Fingerprint>,
}

/// Tracker state of a ticket as muster last knew it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Claimed before the tracker was called; no reference yet.
    Claimed,
    Open,
    Closed,
    /// A person closed it in the tracker while the scanners still see its findings, and the
    /// policy is to flag that rather than reopen (or they closed it as won't-fix).
    ClosedInTracker,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Open => "open",
            Self::Closed => "closed",
            Self::ClosedInTracker => "closed_in_tracker",
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "claimed" => Ok(Self::Claimed),
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            "closed_in_tracker" => Ok(Self::ClosedInTracker),
            _ => Err(InvalidValue::new(
                "ticket state",
                text,
                "expected claimed, open, closed or closed_in_tracker",
            )),
        }
    }
}

/// One ticket per remediation group, in the owner's tracker (or the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub group: GroupKey,
    pub tracker: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub state: TicketState,
    /// Digest of the open members the tracker last saw; a change means the ticket needs an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Someone said they are on it: the escalation ladder is silent until `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// What the SLA sweep last told about the group, and when: a rung is told again only when
    /// the group climbs the ladder or the nag interval has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub told: Option<Told>,
    /// The group as the ticket stage last synced it: what a chat alert about the ticket says.
    /// Kept here so the notify stage reads one record instead of every finding of the group;
    /// tickets stored before it existed have none, and notify then reads the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<GroupSummary>,
}

/// What a chat alert says about a group: urgency, title, owner, the fix and the strongest
/// evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub tier: Tier,
    pub title: String,
    pub owner: TeamId,
    pub due_at: DateTime<Utc>,
    /// Open members.
    pub open: usize,
    /// The one change that fixes the group: the upgrade, else the scanner's advice.
    pub fix: String,
    /// Why it is urgent: the highest-scored open member's evidence, strongest first.
    pub evidence: Vec<String>,
    /// When the ticket stage began reading the group this describes: a sync requested long
    /// enough before it has nothing left to do (see `sync_ticket`). None on summaries stored
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

impl GroupSummary {
    /// Whether both say the same about the group, whenever each was read.
    pub fn says_same_as(&self, other: &GroupSummary) -> bool {
        let Self {
            tier,
            title,
            owner,
            due_at,
            open,
            fix,
            evidence,
            read_at: _,
        } = self;
        (tier, title, owner, due_at, open, fix, evidence)
            == (
                &other.tier,
                &other.title,
                &other.owner,
                &other.due_at,
                &other.open,
                &other.fix,
                &other.evidence,
            )
    }
}

impl Ticket {
    /// The ticket as a chat link (`<url|KEY>`, Slack's syntax), its bare key without a URL, or
    /// nothing before the tracker answered.
    pub fn link(&self) -> Option<String> {
        match (&self.key, &self.url) {
            (Some(key), Some(url)) => Some(format!("<{url}|{key}>")),
            (Some(key), None) => Some(key.clone()),
            _ => None,
        }
    }
}

/// A step of the escalation ladder, in the order a group climbs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rung {
    /// Ticketed, not urgent (P3/P4): listed once in the team's next batched message.
    New,
    DueSoon,
    Breached,
    LongBreached,
}

impl Rung {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::DueSoon => "due_soon",
            Self::Breached => "breached",
            Self::LongBreached => "long_breached",
        }
    }
}

/// A "not mine" from the owning team. It holds only while the ownership rules still route the
/// finding to `from`: once the owners file is fixed, the rules win again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reroute {
    pub from: TeamId,
    pub to: TeamId,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The sweep's memory of a group: the rung it last told and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub rung: Rung,
    pub at: DateTime<Utc>,
}

/// An acknowledgement (Slack button or `muster ack`) of a group's ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: DateTime<Utc>,
    /// The ladder re-arms after this instant if the group is still open.
    pub until: DateTime<Utc>,
}

/// Findings that one change fixes, for one owner, with what the ticket needs to say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemediationGroup {
    pub key: GroupKey,
    pub owner: TeamId,
    pub asset: AssetKey,
    pub title: String,
    pub tier: Tier,
    pub due_at: DateTime<Utc>,
    pub open: Vec<Fingerprint>,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_critical_highest() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!(Severity::parse("Error").unwrap(), Severity::High);
        assert!(Severity::parse("catastrophic").is_err());
    }

    #[test]
    fn cvss_ratings_follow_first_table() {
        assert_eq!(Severity::from_cvss(9.8), Severity::Critical);
        assert_eq!(Severity::from_cvss(7.0), Severity::High);
        assert_eq!(Severity::from_cvss(6.9), Severity::Medium);
        assert_eq!(Severity::from_cvss(0.1), Severity::Low);
        assert_eq!(Severity::from_cvss(0.0), Severity::Info);
    }

    #[test]
    fn tier_sorts_most_urgent_first() {
        let mut tiers = vec![Tier::P3, Tier::P1, Tier::P4, Tier::P2];
        tiers.sort();
        assert_eq!(tiers, Tier::ALL);
    }

    #[test]
    fn fingerprint_round_trips_through_hex() {
        let fp = Fingerprint::from_bytes([0xab; 16]);
        assert_eq!(Fingerprint::parse(&fp.to_string()).unwrap(), fp);
        let mixed = Fingerprint::from_bytes(std::array::from_fn(|i| (i as u8) * 17));
        assert_eq!(mixed.to_string(), "00112233445566778899aabbccddeeff");
        assert_eq!(
            serde_json::to_string(&mixed).unwrap(),
            "\"00112233445566778899aabbccddeeff\""
        );
        assert_eq!(format!("{mixed:?}"), "Fingerprint(00112233445566778899aabbccddeeff)");
        assert!(Fingerprint::parse("xyz").is_err());
        assert!(Fingerprint::parse(&"ab".repeat(15)).is_err());
    }

    #[test]
    fn ids_reject_what_would_break_keys() {
        assert!(TeamId::parse("payments-team").is_ok());
        assert!(TeamId::parse("pay ments").is_err());
        assert!(TeamId::parse("").is_err());
        assert!(AssetKey::parse("github.com/org/repo").is_ok());
        assert!(AssetKey::parse("a b").is_err());
    }

    #[test]
    fn content_hash_changes_with_severity_only_when_it_changes() {
        let detection = Detection {
            fingerprint: Fingerprint::from_bytes([1; 16]),
            kind: FindingKind::Code,
            rule_id: Some("r1".into()),
            vuln_ids: vec![],
            title: "t".into(),
            description: None,
            severity: Severity::High,
            cvss: vec![],
            epss: None,
            kev: false,
            location: Location::Source {
                path: "a.rs".into(),
                line: Some(3),
            },
            fix: None,
            help_uri: None,
            evidence: vec![],
            reported: Reported::Open,
            reason: None,
        };
        let same = detection.clone();
        let mut changed = detection.clone();
        changed.severity = Severity::Low;
        assert_eq!(detection.content_hash(), same.content_hash());
        assert_ne!(detection.content_hash(), changed.content_hash());
    }
}
