//! A Jira Cloud stand-in: issues, labels, comments and per-project workflows in memory.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Recorded, Reply, Vendor};

/// `Authorization` for `bot@acme.test` / `jira-token`; anything else gets 401.
pub const AUTH: &str = "Basic Ym90QGFjbWUudGVzdDpqaXJhLXRva2Vu";

#[derive(Debug, Clone)]
pub struct Issue {
    pub project: String,
    pub fields: serde_json::Map<String, Value>,
    /// Status category key: `new`, `indeterminate` or `done`.
    pub status: String,
    pub comments: Vec<Value>,
}

impl Issue {
    pub fn labels(&self) -> Vec<String> {
        self.fields["labels"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// A workflow transition: id, name, target status category.
type Transition = (&'static str, &'static str, &'static str);

const STANDARD: &[Transition] = &[
    ("11", "Start Progress", "indeterminate"),
    ("31", "Done", "done"),
    ("41", "Reopen", "new"),
];
/// A workflow with neither `Done` nor `Reopen`: closes fall back to a comment, reopens to the
/// status category.
const LEGACY: &[Transition] = &[("21", "Back to work", "indeterminate"), ("51", "Resolve", "done")];

#[derive(Debug, Default)]
pub struct Jira {
    pub issues: BTreeMap<String, Issue>,
    next_id: u64,
}

impl Jira {
    fn workflow(project: &str) -> &'static [Transition] {
        if project == "LEGACY" { LEGACY } else { STANDARD }
    }

    fn not_found(key: &str) -> Reply {
        Reply::json(
            404,
            json!({ "errorMessages": [format!("Issue {key} does not exist or you do not have permission to see it.")], "errors": {} }),
        )
    }
}

impl Vendor for Jira {
    fn handle(&mut self, request: &Recorded) -> Reply {
        let authorized = request.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(AUTH);
        if !authorized {
            return Reply::json(
                401,
                json!({ "errorMessages": ["Client must be authenticated to access this resource."], "errors": {} }),
            );
        }
        let segments: Vec<&str> = request.path.trim_start_matches("/rest/api/3/").split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["issue"]) => {
                let fields = request.body["fields"].as_object().cloned().unwrap_or_default();
                let project = fields["project"]["key"].as_str().unwrap_or("NONE").to_owned();
                self.next_id += 1;
                let number = self
                    .issues
                    .keys()
                    .filter(|k| k.starts_with(&format!("{project}-")))
                    .count()
                    + 1;
                let key = format!("{project}-{number}");
                let id = (10_000 + self.next_id).to_string();
                self.issues.insert(
                    key.clone(),
                    Issue {
                        project,
                        fields,
                        status: "new".into(),
                        comments: vec![],
                    },
                );
                Reply::json(
                    201,
                    json!({ "id": id, "key": key, "self": format!("https://acme.atlassian.net/rest/api/3/issue/{id}") }),
                )
            }
            ("GET", ["search", "jql"]) => {
                let jql = request.param("jql").unwrap_or_default();
                let label = jql
                    .strip_prefix("labels = \"")
                    .and_then(|rest| rest.strip_suffix('"'))
                    .unwrap_or("<unsupported jql>");
                let issues: Vec<Value> = self
                    .issues
                    .iter()
                    .filter(|(_, issue)| issue.labels().iter().any(|l| l == label))
                    .map(|(key, _)| json!({ "id": "1", "key": key, "fields": {} }))
                    .collect();
                Reply::json(200, json!({ "issues": issues, "isLast": true }))
            }
            ("PUT", ["issue", key]) => {
                let Some(issue) = self.issues.get_mut(*key) else {
                    return Self::not_found(key);
                };
                if let Some(fields) = request.body["fields"].as_object() {
                    issue.fields.extend(fields.clone());
                }
                for operation in request.body["update"]["labels"].as_array().into_iter().flatten() {
                    let mut labels = issue.labels();
                    if let Some(label) = operation["add"].as_str() {
                        labels.push(label.to_owned());
                    }
                    if let Some(label) = operation["remove"].as_str() {
                        labels.retain(|l| l != label);
                    }
                    issue.fields.insert("labels".into(), json!(labels));
                }
                Reply::empty(204)
            }
            ("GET", ["issue", key, "transitions"]) => {
                let Some(issue) = self.issues.get(*key) else {
                    return Self::not_found(key);
                };
                let transitions: Vec<Value> = Self::workflow(&issue.project)
                    .iter()
                    .map(|(id, name, category)| {
                        json!({ "id": id, "name": name, "to": { "id": "1", "name": name, "statusCategory": { "id": 2, "key": category, "name": category } } })
                    })
                    .collect();
                Reply::json(200, json!({ "transitions": transitions }))
            }
            ("POST", ["issue", key, "transitions"]) => {
                let Some(issue) = self.issues.get_mut(*key) else {
                    return Self::not_found(key);
                };
                let id = request.body["transition"]["id"].as_str().unwrap_or_default();
                match Self::workflow(&issue.project).iter().find(|(t, _, _)| *t == id) {
                    Some((_, _, category)) => {
                        issue.status = (*category).to_owned();
                        Reply::empty(204)
                    }
                    None => Reply::json(
                        400,
                        json!({ "errorMessages": [format!("Transition id '{id}' is not valid for this issue.")], "errors": {} }),
                    ),
                }
            }
            ("POST", ["issue", key, "comment"]) => {
                let Some(issue) = self.issues.get_mut(*key) else {
                    return Self::not_found(key);
                };
                issue.comments.push(request.body["body"].clone());
                let id = (issue.comments.len() + 10_000).to_string();
                Reply::json(201, json!({ "id": id, "body": request.body["body"] }))
            }
            _ => Reply::json(
                404,
                json!({ "errorMessages": ["No such endpoint in the stub"], "errors": {} }),
            ),
        }
    }
}
