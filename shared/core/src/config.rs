//! `muster.toml`: sources, triage defaults and the tier → SLA table.
//!
//! Read once at start-up and validated whole, so a typo fails fast with the file and line
//! instead of surfacing per request. Secrets are never stored here, only the names of the
//! environment variables that hold them.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::formats::Format;
use crate::model::{SourceName, TeamId, Tier};

/// The whole configuration; every section has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_sources")]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub triage: TriageConfig,
    #[serde(default)]
    pub sla: SlaConfig,
    #[serde(default)]
    pub http: HttpSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sources: default_sources(),
            triage: TriageConfig::default(),
            sla: SlaConfig::default(),
            http: HttpSettings::default(),
        }
    }
}

/// The webhook server's limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body, in MiB, compressed or inflated (default 32).
    #[serde(default = "default_body_limit_mib")]
    pub body_limit_mib: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_mib: default_body_limit_mib(),
        }
    }
}

/// Default largest webhook body, in MiB.
pub const DEFAULT_BODY_LIMIT_MIB: u32 = 32;

fn default_body_limit_mib() -> u32 {
    DEFAULT_BODY_LIMIT_MIB
}

impl HttpSettings {
    pub fn body_limit_bytes(&self) -> usize {
        self.body_limit_mib as usize * 1024 * 1024
    }
}

/// A webhook source: `POST /webhooks/{name}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: SourceName,
    #[serde(default = "auto")]
    pub format: String,
    /// Environment variable that holds the HMAC secret; none means unsigned (local use only).
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl SourceConfig {
    /// The configured format, `None` for auto-detection. Validated at load.
    pub fn format(&self) -> Option<Format> {
        Format::parse_choice(&self.format).ok().flatten()
    }
}

fn auto() -> String {
    "auto".to_owned()
}

/// Without a config file muster accepts unsigned reports on one source, `local`.
fn default_sources() -> Vec<SourceConfig> {
    vec![SourceConfig {
        name: SourceName::parse("local").expect("literal is a valid source name"),
        format: auto(),
        secret_env: None,
    }]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageConfig {
    /// Team that receives what no ownership rule claims.
    #[serde(default = "default_owner")]
    pub default_owner: TeamId,
}

impl Default for TriageConfig {
    fn default() -> Self {
        Self {
            default_owner: default_owner(),
        }
    }
}

fn default_owner() -> TeamId {
    TeamId::parse("security-triage").expect("literal is a valid team id")
}

/// Days to fix per tier, counted from first seen. Defaults follow common vulnerability
/// management policies (CISA BOD 22-01 gives KEV entries two weeks; PCI DSS 30 days for
/// critical patches).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    #[serde(rename = "P1", default = "p1")]
    pub p1_days: u32,
    #[serde(rename = "P2", default = "p2")]
    pub p2_days: u32,
    #[serde(rename = "P3", default = "p3")]
    pub p3_days: u32,
    #[serde(rename = "P4", default = "p4")]
    pub p4_days: u32,
}

fn p1() -> u32 {
    7
}
fn p2() -> u32 {
    30
}
fn p3() -> u32 {
    90
}
fn p4() -> u32 {
    180
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            p1_days: p1(),
            p2_days: p2(),
            p3_days: p3(),
            p4_days: p4(),
        }
    }
}

impl SlaConfig {
    pub fn days(&self, tier: Tier) -> u32 {
        match tier {
            Tier::P1 => self.p1_days,
            Tier::P2 => self.p2_days,
            Tier::P3 => self.p3_days,
            Tier::P4 => self.p4_days,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Parses and validates TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string().trim().to_owned(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let mut names = HashSet::new();
        for source in &self.sources {
            if !names.insert(source.name.as_str()) {
                return Err(invalid(format!("source {:?} is declared twice", source.name.as_str())));
            }
            Format::parse_choice(&source.format)
                .map_err(|e| invalid(format!("source {:?}: {e}", source.name.as_str())))?;
        }
        if !(1..=1024).contains(&self.http.body_limit_mib) {
            return Err(invalid(format!(
                "http.body_limit_mib must be between 1 and 1024, not {}",
                self.http.body_limit_mib
            )));
        }
        let days = Tier::ALL.map(|t| self.sla.days(t));
        if days.contains(&0) {
            return Err(invalid("sla: every tier needs at least 1 day".into()));
        }
        if days.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid(format!(
                "sla: a more urgent tier must not get more days (P1..P4 = {days:?})"
            )));
        }
        Ok(())
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::from_toml("", "muster.toml").unwrap();
        assert_eq!(config.sources.len(), 1);
        assert_eq!(config.sla.days(Tier::P1), 7);
        assert_eq!(config.triage.default_owner.as_str(), "security-triage");
    }

    #[test]
    fn sources_and_sla_are_read() {
        let config = Config::from_toml(
            r#"
            [[sources]]
            name = "ci"
            format = "sarif"
            secret_env = "MUSTER_SECRET_CI"

            [sla]
            P1 = 3
            "#,
            "muster.toml",
        )
        .unwrap();
        assert_eq!(config.source("ci").unwrap().format(), Some(Format::Sarif));
        assert_eq!(config.sla.days(Tier::P1), 3);
        assert_eq!(config.sla.days(Tier::P2), 30);
        assert_eq!(config.http.body_limit_bytes(), 32 * 1024 * 1024);
        let bigger = Config::from_toml("[http]\nbody_limit_mib = 100\n", "muster.toml").unwrap();
        assert_eq!(bigger.http.body_limit_bytes(), 100 * 1024 * 1024);
    }

    #[test]
    fn errors_name_the_file_and_problem() {
        let err = Config::from_toml("[[sources]]\nname = \"x\"\nformat = \"xml\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.toml") && err.contains("xml"), "{err}");

        let err = Config::from_toml("[sla]\nP1 = 40\n", "m.toml").unwrap_err().to_string();
        assert!(err.contains("more urgent"), "{err}");

        let err = Config::from_toml("[http]\nbody_limit_mib = 0\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("body_limit_mib"), "{err}");

        let err = Config::from_toml("[triage]\nowner = \"x\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
