//! Assets as code: business criticality, environment, internet exposure, compensating
//! controls and what each asset connects to.
//!
//! Exposure propagates along `connected_to`: an internal database reached by an internet-facing
//! load balancer is exposed too, and the path is the evidence ("internet → alb-prod → api → db").

use serde::{Deserialize, Serialize};

use crate::import::ImportError;
use crate::model::AssetKey;

/// Whether the internet reaches the asset directly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposure {
    External,
    #[default]
    Internal,
}

/// Where the asset runs; production matters most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Staging,
    Development,
    Test,
}

/// One asset entry of the assets file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub key: AssetKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1 = most critical … 4 = least.
    pub criticality: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub exposure: Exposure,
    /// Compensating controls in front of or around the asset (`waf`, `network-isolated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// Assets this one can reach (exposure flows from here to there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connected_to: Vec<AssetKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// How the internet reaches an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reach {
    /// The asset itself is external.
    Direct,
    /// Reached through connected assets; `path` runs from an external asset to this one, both
    /// included, shortest first found.
    Via { path: Vec<AssetKey> },
    /// Known, internal, and no external asset reaches it.
    Internal,
    /// Not in the assets file.
    Unknown,
}
