//! A GitHub Issues stand-in: per-repository labels, issues and comments in memory. Replies are
//! the spec's own examples with the stateful fields replaced, so they satisfy the schemas.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Value, json};

use super::{Recorded, Reply, Vendor};

#[derive(Debug, Clone, Default)]
pub struct Issue {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub comments: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Repo {
    pub labels: Vec<String>,
    pub issues: BTreeMap<u64, Issue>,
}

pub struct GitHub {
    pub repos: HashMap<String, Repo>,
    examples: Value,
}

impl GitHub {
    /// Reads reply templates from the prepped spec in `mocks`.
    pub fn new(mocks: &Path) -> Self {
        let spec: Value =
            serde_json::from_str(&std::fs::read_to_string(mocks.join("specs/github-issues.json")).unwrap()).unwrap();
        Self {
            repos: HashMap::new(),
            examples: spec["components"]["examples"].clone(),
        }
    }

    fn example(&self, name: &str) -> Value {
        self.examples[name]["value"].clone()
    }

    fn label(&self, name: &str) -> Value {
        let mut label = self.example("label");
        label["name"] = json!(name);
        label
    }

    fn issue(&self, repo: &str, number: u64, issue: &Issue) -> Value {
        let mut value = self.example("issue");
        let user = value["user"].clone();
        value["number"] = json!(number);
        value["title"] = json!(issue.title);
        value["body"] = json!(issue.body);
        value["state"] = json!(issue.state);
        value["state_reason"] = json!(issue.state_reason);
        value["html_url"] = json!(format!("https://github.com/{repo}/issues/{number}"));
        value["url"] = json!(format!("https://api.github.com/repos/{repo}/issues/{number}"));
        value["labels"] = json!(issue.labels.iter().map(|l| self.label(l)).collect::<Vec<_>>());
        let assignees: Vec<Value> = issue
            .assignees
            .iter()
            .map(|login| {
                let mut user = user.clone();
                user["login"] = json!(login);
                user
            })
            .collect();
        value["assignee"] = assignees.first().cloned().unwrap_or(Value::Null);
        value["assignees"] = json!(assignees);
        value
    }

    fn not_found() -> Reply {
        Reply::json(
            404,
            json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
        )
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

impl Vendor for GitHub {
    fn handle(&mut self, request: &Recorded) -> Reply {
        let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["search", "issues"]) => {
                let q = request.param("q").unwrap_or_default();
                let repo = q
                    .split_whitespace()
                    .find_map(|t| t.strip_prefix("repo:"))
                    .unwrap_or_default()
                    .to_owned();
                let marker = q.split('"').nth(1).unwrap_or("<no phrase>").to_owned();
                let template = self.example("issue-search-result-item-paginated")["items"][0].clone();
                let items: Vec<Value> = self
                    .repos
                    .get(&repo)
                    .map(|r| {
                        r.issues
                            .iter()
                            .filter(|(_, i)| i.body.contains(&marker))
                            .map(|(number, issue)| {
                                let mut item = template.clone();
                                item["number"] = json!(number);
                                item["title"] = json!(issue.title);
                                item["body"] = json!(issue.body);
                                item["html_url"] = json!(format!("https://github.com/{repo}/issues/{number}"));
                                item
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Reply::json(
                    200,
                    json!({ "total_count": items.len(), "incomplete_results": false, "search_type": "lexical", "items": items }),
                )
            }
            ("GET", ["repos", owner, name, "labels"]) => {
                let repo = self.repos.entry(format!("{owner}/{name}")).or_default();
                let page: usize = request.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per_page: usize = request.param("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
                let names: Vec<String> = repo
                    .labels
                    .iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .cloned()
                    .collect();
                Reply::json(200, json!(names.iter().map(|n| self.label(n)).collect::<Vec<_>>()))
            }
            ("POST", ["repos", owner, name, "labels"]) => {
                let repo = self.repos.entry(format!("{owner}/{name}")).or_default();
                let label = request.body["name"].as_str().unwrap_or_default().to_owned();
                if repo.labels.contains(&label) {
                    return Reply::json(
                        422,
                        json!({ "message": "Validation Failed", "documentation_url": "https://docs.github.com/rest", "errors": [{ "resource": "Label", "code": "already_exists", "field": "name" }] }),
                    );
                }
                repo.labels.push(label.clone());
                Reply::json(201, self.label(&label))
            }
            ("POST", ["repos", owner, name, "issues"]) => {
                let repo_name = format!("{owner}/{name}");
                let repo = self.repos.entry(repo_name.clone()).or_default();
                let number = repo.issues.len() as u64 + 1;
                let issue = Issue {
                    title: request.body["title"].as_str().unwrap_or_default().to_owned(),
                    body: request.body["body"].as_str().unwrap_or_default().to_owned(),
                    labels: strings(&request.body["labels"]),
                    assignees: strings(&request.body["assignees"]),
                    state: "open".into(),
                    ..Issue::default()
                };
                repo.issues.insert(number, issue.clone());
                Reply::json(201, self.issue(&repo_name, number, &issue))
            }
            ("PATCH", ["repos", owner, name, "issues", number]) => {
                let repo_name = format!("{owner}/{name}");
                let number: u64 = number.parse().unwrap_or(0);
                let Some(issue) = self.repos.get_mut(&repo_name).and_then(|r| r.issues.get_mut(&number)) else {
                    return Self::not_found();
                };
                let body = &request.body;
                if let Some(title) = body["title"].as_str() {
                    issue.title = title.to_owned();
                }
                if let Some(text) = body["body"].as_str() {
                    issue.body = text.to_owned();
                }
                if body["labels"].is_array() {
                    issue.labels = strings(&body["labels"]);
                }
                if let Some(state) = body["state"].as_str() {
                    issue.state = state.to_owned();
                    issue.state_reason = body["state_reason"].as_str().map(str::to_owned);
                }
                let issue = issue.clone();
                Reply::json(200, self.issue(&repo_name, number, &issue))
            }
            ("POST", ["repos", owner, name, "issues", number, "comments"]) => {
                let number: u64 = number.parse().unwrap_or(0);
                let Some(issue) = self
                    .repos
                    .get_mut(&format!("{owner}/{name}"))
                    .and_then(|r| r.issues.get_mut(&number))
                else {
                    return Self::not_found();
                };
                issue
                    .comments
                    .push(request.body["body"].as_str().unwrap_or_default().to_owned());
                let mut comment = self.example("issue-comment");
                comment["body"] = request.body["body"].clone();
                Reply::json(201, comment)
            }
            _ => Self::not_found(),
        }
    }
}
