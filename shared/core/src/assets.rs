//! Assets as code: business criticality, environment, internet exposure, compensating
//! controls and what each asset connects to.
//!
//! Exposure propagates along `connected_to`: an internal database reached by an internet-facing
//! load balancer is exposed too, and the path is the evidence ("internet → alb-prod → api → db").

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::import::{ImportError, error_at, is_blank_yaml, item_lines, yaml_error};
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

/// Parses the assets file. Shape (`infra/examples/assets.yaml` is a complete example):
///
/// ```yaml
/// assets:
///   - key: github.com/acme/shop-api      # required, unique
///     name: Shop API                      # optional
///     criticality: 1                      # required, 1 (most critical) … 4
///     environment: production             # production|prod|staging|development|dev|test
///     exposure: external                  # external|internal, default internal
///     controls: [waf]                     # lower-cased and trimmed
///     connected_to: [ghcr.io/acme/shop-api]  # may name unlisted assets; self-loops are dropped
///     tags: [pci]
/// ```
///
/// Unknown fields are errors (a typo must not silently drop a control); every error names the
/// file and, where known, the line of the offending entry.
pub fn parse_assets_yaml(text: &str, origin: &str) -> Result<Vec<Asset>, ImportError> {
    let file: AssetsFile = if is_blank_yaml(text) {
        AssetsFile::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| yaml_error(origin, &e))?
    };
    let lines = item_lines(text, "assets", file.assets.len());
    let mut seen: HashMap<AssetKey, usize> = HashMap::new();
    let mut assets = Vec::with_capacity(file.assets.len());
    for (i, entry) in file.assets.into_iter().enumerate() {
        let line = lines.get(i).copied();
        let fail = |message: String| error_at(origin, line, message);
        let key = AssetKey::parse(&entry.key).map_err(|e| fail(format!("assets[{i}]: {e}")))?;
        if let Some(first) = seen.insert(key.clone(), i) {
            return Err(fail(format!(
                "asset \"{key}\" is listed twice (assets[{first}] and assets[{i}]); merge the entries"
            )));
        }
        let criticality = u8::try_from(entry.criticality)
            .ok()
            .filter(|c| (1..=4).contains(c))
            .ok_or_else(|| {
                fail(format!(
                    "asset \"{key}\": criticality {} is out of range; use 1 (most critical) to 4 (least)",
                    entry.criticality
                ))
            })?;
        let environment = entry
            .environment
            .as_deref()
            .map(|text| {
                parse_environment(text).ok_or_else(|| {
                    fail(format!(
                        "asset \"{key}\": unknown environment {text:?}; use production, staging, development or test"
                    ))
                })
            })
            .transpose()?;
        let exposure = match entry.exposure.as_deref().map(|e| e.trim().to_ascii_lowercase()) {
            None => Exposure::Internal,
            Some(e) if e == "external" => Exposure::External,
            Some(e) if e == "internal" => Exposure::Internal,
            Some(other) => {
                return Err(fail(format!(
                    "asset \"{key}\": unknown exposure {other:?}; use external (reachable from the internet) or internal"
                )));
            }
        };
        let controls = normalized(entry.controls.iter().map(|c| c.trim().to_ascii_lowercase()));
        let tags = normalized(entry.tags.iter().map(|t| t.trim().to_owned()));
        let mut connected_to: Vec<AssetKey> = Vec::with_capacity(entry.connected_to.len());
        for target in &entry.connected_to {
            let target = AssetKey::parse(target).map_err(|e| fail(format!("asset \"{key}\": connected_to: {e}")))?;
            if target != key && !connected_to.contains(&target) {
                connected_to.push(target);
            }
        }
        assets.push(Asset {
            name: entry.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            key,
            criticality,
            environment,
            exposure,
            controls,
            connected_to,
            tags,
        });
    }
    Ok(assets)
}

fn parse_environment(text: &str) -> Option<Environment> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "production" | "prod" => Environment::Production,
        "staging" => Environment::Staging,
        "development" | "dev" => Environment::Development,
        "test" => Environment::Test,
        _ => return None,
    })
}

/// Drops empty and repeated entries, keeping the first occurrence's position.
fn normalized(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetsFile {
    #[serde(default)]
    assets: Vec<AssetEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetEntry {
    key: String,
    #[serde(default)]
    name: Option<String>,
    /// Wide so that `criticality: 7` gets an error naming the asset, not a serde range error.
    criticality: i64,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    exposure: Option<String>,
    #[serde(default)]
    controls: Vec<String>,
    #[serde(default)]
    connected_to: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// The assets file compiled for lookups: assets by key and, for every asset the internet can
/// reach, one shortest path from an external asset. Built once per import; lookups never walk
/// the graph beyond reading back the stored path.
#[derive(Debug, Clone, Default)]
pub struct AssetGraph {
    /// Listed assets, first occurrence of each key; node `i < assets.len()` is `assets[i]`.
    assets: Vec<Asset>,
    /// Every key the graph knows: listed assets first, then unlisted `connected_to` targets.
    nodes: HashMap<String, usize>,
    keys: Vec<AssetKey>,
    /// BFS predecessor on a shortest path from an external asset; `None` for sources and for
    /// nodes the internet does not reach.
    parent: Vec<Option<usize>>,
    reached: Vec<bool>,
}

impl AssetGraph {
    /// Compiles the graph with a multi-source breadth-first search from all external assets at
    /// once, so each reached asset keeps a shortest path (ties go to the earlier external asset
    /// in file order, then the earlier `connected_to` entry). Cycles terminate because every
    /// node is visited once. A repeated key keeps its first entry.
    pub fn new(assets: &[Asset]) -> AssetGraph {
        let mut graph = AssetGraph::default();
        for asset in assets {
            if !graph.nodes.contains_key(asset.key.as_str()) {
                graph.nodes.insert(asset.key.to_string(), graph.keys.len());
                graph.keys.push(asset.key.clone());
                graph.assets.push(asset.clone());
            }
        }
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); graph.assets.len()];
        for (from, asset) in graph.assets.iter().enumerate() {
            for target in &asset.connected_to {
                let to = match graph.nodes.get(target.as_str()) {
                    Some(&to) => to,
                    None => {
                        graph.nodes.insert(target.to_string(), graph.keys.len());
                        graph.keys.push(target.clone());
                        graph.keys.len() - 1
                    }
                };
                if to != from {
                    edges[from].push(to);
                }
            }
        }
        graph.parent = vec![None; graph.keys.len()];
        graph.reached = vec![false; graph.keys.len()];
        let mut queue = VecDeque::new();
        for (node, asset) in graph.assets.iter().enumerate() {
            if asset.exposure == Exposure::External {
                graph.reached[node] = true;
                queue.push_back(node);
            }
        }
        while let Some(from) = queue.pop_front() {
            // Unlisted targets have no outgoing edges.
            for &to in edges.get(from).map_or(&[][..], Vec::as_slice) {
                if !graph.reached[to] {
                    graph.reached[to] = true;
                    graph.parent[to] = Some(from);
                    queue.push_back(to);
                }
            }
        }
        graph
    }

    /// The asset listed under this key, else under the key without its image tag or digest
    /// (`ghcr.io/acme/api:1.4` finds `ghcr.io/acme/api`).
    pub fn get(&self, key: &AssetKey) -> Option<&Asset> {
        lookup_keys(key)
            .filter_map(|k| self.nodes.get(k))
            .find_map(|&node| self.assets.get(node))
    }

    /// How the internet reaches the asset; see [`Reach`]. An unlisted asset that an external
    /// asset's `connected_to` chain names is reached too.
    pub fn reach(&self, key: &AssetKey) -> Reach {
        let Some(node) = lookup_keys(key)
            .filter_map(|k| self.nodes.get(k).copied())
            .find(|&node| node < self.assets.len() || self.reached[node])
        else {
            return Reach::Unknown;
        };
        if self.assets.get(node).is_some_and(|a| a.exposure == Exposure::External) {
            return Reach::Direct;
        }
        if !self.reached[node] {
            return Reach::Internal;
        }
        let mut path = vec![self.keys[node].clone()];
        let mut current = node;
        while let Some(previous) = self.parent[current] {
            path.push(self.keys[previous].clone());
            current = previous;
        }
        path.reverse();
        Reach::Via { path }
    }

    /// Number of listed assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }
}

/// The key as given, then its image name without tag or digest when it has one.
fn lookup_keys(key: &AssetKey) -> impl Iterator<Item = &str> {
    std::iter::once(key.as_str()).chain(image_name(key.as_str()))
}

/// The image name of a key with a tag or digest (`name:tag`, `name@sha256:…`,
/// `name:tag@sha256:…`), else `None`. Only the part after the last `/` is looked at, so a
/// registry port (`host:5000/name`) stays; ARNs (`arn:…`) are never images.
pub(crate) fn image_name(key: &str) -> Option<&str> {
    if key.starts_with("arn:") {
        return None;
    }
    let tail_start = key.rfind('/').map_or(0, |slash| slash + 1);
    let tail = &key[tail_start..];
    let end = match tail.find('@') {
        Some(at) => tail_start + at,
        None => tail_start + tail.rfind(':')?,
    };
    let without_digest = &key[..end];
    let name = match without_digest[tail_start..].rfind(':') {
        Some(colon) => &without_digest[..tail_start + colon],
        None => without_digest,
    };
    (name.len() > tail_start && end + 1 < key.len()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AssetKey {
        AssetKey::parse(text).unwrap()
    }

    fn asset(k: &str, exposure: Exposure, connected_to: &[&str]) -> Asset {
        Asset {
            key: key(k),
            name: None,
            criticality: 2,
            environment: None,
            exposure,
            controls: vec![],
            connected_to: connected_to.iter().map(|c| key(c)).collect(),
            tags: vec![],
        }
    }

    fn via(path: &[&str]) -> Reach {
        Reach::Via {
            path: path.iter().map(|k| key(k)).collect(),
        }
    }

    #[test]
    fn full_entry_is_parsed_and_normalized() {
        // GIVEN
        let text = "\
assets:
  - key: github.com/acme/shop-api
    name: Shop API
    criticality: 1
    environment: prod
    exposure: External
    controls: [' WAF ', waf, Network-Isolated]
    connected_to: [github.com/acme/shop-api, ghcr.io/acme/shop-api, ghcr.io/acme/shop-api]
    tags: [pci]
  - key: github.com/acme/tools
    criticality: 4
";
        // WHEN
        let assets = parse_assets_yaml(text, "assets.yaml").unwrap();
        // THEN
        assert_eq!(assets.len(), 2);
        let api = &assets[0];
        assert_eq!(api.name.as_deref(), Some("Shop API"));
        assert_eq!(api.criticality, 1);
        assert_eq!(api.environment, Some(Environment::Production));
        assert_eq!(api.exposure, Exposure::External);
        assert_eq!(api.controls, ["waf", "network-isolated"]);
        assert_eq!(
            api.connected_to,
            [key("ghcr.io/acme/shop-api")],
            "self-loop and repeat dropped"
        );
        assert_eq!(api.tags, ["pci"]);
        assert_eq!(assets[1].exposure, Exposure::Internal, "internal by default");
        assert_eq!(assets[1].environment, None);
    }

    #[test]
    fn environment_aliases_are_accepted() {
        for (text, expected) in [
            ("production", Environment::Production),
            ("prod", Environment::Production),
            ("staging", Environment::Staging),
            ("development", Environment::Development),
            ("dev", Environment::Development),
            ("test", Environment::Test),
        ] {
            let yaml = format!("assets:\n  - key: a\n    criticality: 2\n    environment: {text}\n");
            assert_eq!(
                parse_assets_yaml(&yaml, "a.yaml").unwrap()[0].environment,
                Some(expected)
            );
        }
        let err = parse_assets_yaml(
            "assets:\n  - key: a\n    criticality: 2\n    environment: qa\n",
            "a.yaml",
        )
        .unwrap_err();
        assert!(err.message.contains("unknown environment"), "{err}");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn yaml_syntax_error_carries_line_and_column() {
        let text = "assets:\n  - key: a\n    criticality: 1\n   bad: [\n";
        let err = parse_assets_yaml(text, "assets.yaml").unwrap_err();
        assert_eq!(err.origin, "assets.yaml");
        assert!(err.line.is_some_and(|l| l >= 3), "{err:?}");
        assert!(err.column.is_some(), "{err:?}");
    }

    #[test]
    fn unknown_field_is_refused_at_its_line() {
        let text = "assets:\n  - key: a\n    criticality: 1\n    exposre: external\n";
        let err = parse_assets_yaml(text, "assets.yaml").unwrap_err();
        assert!(err.message.contains("exposre"), "{err}");
        assert_eq!(err.line, Some(4));
        assert!(err.column.is_some());
        assert!(
            !err.message.contains("at line"),
            "position is not repeated in the message: {err}"
        );
    }

    #[test]
    fn wrong_type_is_refused_at_its_line() {
        let err = parse_assets_yaml("assets:\n  - key: a\n    criticality: high\n", "assets.yaml").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn duplicate_key_is_refused_naming_both_entries() {
        let text = "assets:\n  - key: a\n    criticality: 1\n  - key: a\n    criticality: 2\n";
        let err = parse_assets_yaml(text, "assets.yaml").unwrap_err();
        assert!(err.message.contains("\"a\" is listed twice"), "{err}");
        assert!(err.message.contains("assets[0] and assets[1]"), "{err}");
        assert_eq!(err.line, Some(4));
    }

    #[test]
    fn criticality_outside_one_to_four_names_the_asset() {
        for bad in ["0", "5", "-1", "300"] {
            let text = format!("assets:\n  - key: github.com/acme/x\n    criticality: {bad}\n");
            let err = parse_assets_yaml(&text, "assets.yaml").unwrap_err();
            assert!(err.message.contains("github.com/acme/x"), "{err}");
            assert!(err.message.contains("criticality"), "{err}");
            assert_eq!(err.line, Some(2));
        }
        assert!(parse_assets_yaml("assets:\n  - key: a\n    criticality: 4\n", "a").is_ok());
    }

    #[test]
    fn unknown_exposure_and_bad_keys_are_refused() {
        let err =
            parse_assets_yaml("assets:\n  - key: a\n    criticality: 1\n    exposure: public\n", "a").unwrap_err();
        assert!(err.message.contains("exposure"), "{err}");
        let err = parse_assets_yaml("assets:\n  - key: 'a b'\n    criticality: 1\n", "a").unwrap_err();
        assert!(err.message.contains("asset key"), "{err}");
        let err = parse_assets_yaml(
            "assets:\n  - key: a\n    criticality: 1\n    connected_to: ['x y']\n",
            "a",
        )
        .unwrap_err();
        assert!(err.message.contains("connected_to"), "{err}");
    }

    #[test]
    fn empty_file_has_no_assets() {
        assert!(parse_assets_yaml("# nothing yet\n", "a").unwrap().is_empty());
        assert!(parse_assets_yaml("assets: []\n", "a").unwrap().is_empty());
    }

    #[test]
    fn external_asset_is_reached_directly() {
        let graph = AssetGraph::new(&[asset("alb", Exposure::External, &["api"])]);
        assert_eq!(graph.reach(&key("alb")), Reach::Direct);
    }

    #[test]
    fn exposure_propagates_over_several_hops_with_the_path_as_evidence() {
        // GIVEN internet → alb → api → db, and an unrelated internal asset
        let graph = AssetGraph::new(&[
            asset("db", Exposure::Internal, &[]),
            asset("api", Exposure::Internal, &["db"]),
            asset("alb", Exposure::External, &["api"]),
            asset("batch", Exposure::Internal, &["db"]),
        ]);
        // THEN
        assert_eq!(graph.reach(&key("api")), via(&["alb", "api"]));
        assert_eq!(graph.reach(&key("db")), via(&["alb", "api", "db"]));
        assert_eq!(graph.reach(&key("batch")), Reach::Internal, "edges are directed");
        assert_eq!(graph.reach(&key("elsewhere")), Reach::Unknown);
    }

    #[test]
    fn unlisted_target_of_an_exposed_asset_is_reached() {
        let graph = AssetGraph::new(&[
            asset("alb", Exposure::External, &["queue"]),
            asset("cron", Exposure::Internal, &["bucket"]),
        ]);
        assert_eq!(graph.reach(&key("queue")), via(&["alb", "queue"]));
        assert_eq!(graph.reach(&key("bucket")), Reach::Unknown, "unlisted and not reached");
        assert!(graph.get(&key("queue")).is_none());
        assert_eq!(graph.len(), 2);
    }

    #[test]
    fn cycles_terminate() {
        let graph = AssetGraph::new(&[
            asset("a", Exposure::Internal, &["b"]),
            asset("b", Exposure::Internal, &["c"]),
            asset("c", Exposure::Internal, &["a"]),
            asset("edge", Exposure::External, &["b"]),
            asset("x", Exposure::Internal, &["y"]),
            asset("y", Exposure::Internal, &["x"]),
        ]);
        assert_eq!(graph.reach(&key("a")), via(&["edge", "b", "c", "a"]));
        assert_eq!(
            graph.reach(&key("x")),
            Reach::Internal,
            "an unreached cycle stays internal"
        );
    }

    #[test]
    fn shortest_path_from_any_external_asset_is_chosen() {
        // GIVEN a long route from the first external asset and a short one from the second
        let graph = AssetGraph::new(&[
            asset("cdn", Exposure::External, &["gw"]),
            asset("gw", Exposure::Internal, &["svc"]),
            asset("svc", Exposure::Internal, &["db"]),
            asset("alb", Exposure::External, &["db"]),
            asset("db", Exposure::Internal, &[]),
        ]);
        // THEN the one-hop path wins although its source comes later in the file
        assert_eq!(graph.reach(&key("db")), via(&["alb", "db"]));
        assert_eq!(graph.reach(&key("svc")), via(&["cdn", "gw", "svc"]));
    }

    #[test]
    fn image_tag_or_digest_finds_the_listed_image() {
        let graph = AssetGraph::new(&[
            asset("ghcr.io/acme/api", Exposure::External, &[]),
            asset("registry.acme.example:5000/api", Exposure::Internal, &[]),
        ]);
        for tagged in [
            "ghcr.io/acme/api:1.4",
            "ghcr.io/acme/api@sha256:0123abcd",
            "ghcr.io/acme/api:1.4@sha256:0123abcd",
        ] {
            assert_eq!(
                graph.get(&key(tagged)).map(|a| a.key.as_str()),
                Some("ghcr.io/acme/api")
            );
            assert_eq!(graph.reach(&key(tagged)), Reach::Direct);
        }
        assert_eq!(
            graph
                .get(&key("registry.acme.example:5000/api:2"))
                .map(|a| a.key.as_str()),
            Some("registry.acme.example:5000/api")
        );
        assert!(graph.get(&key("ghcr.io/acme/api-worker:1")).is_none());
    }

    #[test]
    fn image_name_strips_only_tags_and_digests() {
        assert_eq!(image_name("ghcr.io/acme/api:1.4"), Some("ghcr.io/acme/api"));
        assert_eq!(image_name("ghcr.io/acme/api@sha256:ab"), Some("ghcr.io/acme/api"));
        assert_eq!(image_name("ghcr.io/acme/api:1@sha256:ab"), Some("ghcr.io/acme/api"));
        assert_eq!(image_name("host:5000/api:2"), Some("host:5000/api"));
        assert_eq!(image_name("nginx:1.25"), Some("nginx"));
        assert_eq!(image_name("host:5000/api"), None, "a registry port is not a tag");
        assert_eq!(image_name("github.com/acme/api"), None);
        assert_eq!(image_name("arn:aws:rds:eu-west-1:123456789012:db:shop"), None);
        assert_eq!(image_name("api:"), None);
    }

    #[test]
    fn item_lines_find_block_sequence_entries() {
        let text = "# c\nassets:\n  - key: a\n    tags:\n      - x\n\n  - key: b\nother:\n  - z\n";
        assert_eq!(item_lines(text, "assets", 2), [3, 7]);
        assert!(item_lines(text, "assets", 3).is_empty(), "mismatch gives no lines");
        assert!(item_lines("assets: [{key: a}]\n", "assets", 1).is_empty());
    }

    #[test]
    fn example_assets_file_parses_and_propagates_exposure() {
        let assets = parse_assets_yaml(include_str!("../../../infra/examples/assets.yaml"), "assets.yaml").unwrap();
        let graph = AssetGraph::new(&assets);
        let alb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188";
        assert_eq!(graph.reach(&key(alb)), Reach::Direct);
        let db = "arn:aws:rds:eu-west-1:123456789012:db:shop";
        assert_eq!(graph.reach(&key(db)), via(&[alb, "ghcr.io/acme/shop-api", db]));
        assert_eq!(
            graph.reach(&key("github.com/acme/shop-api")),
            via(&[alb, "ghcr.io/acme/shop-api", "github.com/acme/shop-api"])
        );
        assert_eq!(
            graph.reach(&key("arn:aws:sqs:eu-west-1:123456789012:shop-orders")),
            via(&[
                alb,
                "ghcr.io/acme/shop-api",
                "arn:aws:sqs:eu-west-1:123456789012:shop-orders"
            ])
        );
        assert_eq!(graph.reach(&key("github.com/acme/infra-terraform")), Reach::Internal);
        assert_eq!(
            graph.get(&key(db)).unwrap().controls,
            ["network-isolated", "encryption-at-rest"]
        );
        assert_eq!(graph.get(&key("ghcr.io/acme/shop-api:1.42")).unwrap().criticality, 1);
    }
}
