//! Secrets from SSM Parameter Store, read once per cold start and never logged.
//!
//! muster.toml names secrets by environment variable (`[[sources]] secret_env`,
//! `trackers.*.token_env` / `webhook_secret_env`, `slack.token_env` / `signing_secret_env`); the
//! local server reads those variables. In AWS the template hands each function SSM *names*
//! instead, and this module maps them onto the same lookups:
//!
//! - `MUSTER_WEBHOOK_SECRETS_PATH`: every SecureString `<path>/NAME` is the HMAC secret of source
//!   `NAME`; `MUSTER_TRACKER_SECRETS_PATH`: `<path>/github`, `<path>/jira` are the tracker
//!   webhook secrets.
//! - `MUSTER_JIRA_TOKEN_PARAM`, `MUSTER_GITHUB_TOKEN_PARAM`, `MUSTER_SLACK_BOT_TOKEN_PARAM`,
//!   `MUSTER_SLACK_SIGNING_SECRET_PARAM` each name one parameter, which supplies the variable
//!   muster.toml names for that secret (`trackers.jira.token_env`, …), whatever it is called.
//!
//! The variable itself, when set in the function's environment, wins (an override, and how the
//! env-only tests run). A `_PARAM` is read only when its integration is configured, so a function
//! never fails over a parameter nobody uses. Values never reach `Debug`, logs or errors.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::{Parameter, ParameterType};
use muster_core::Config;

/// SSM path of the webhook HMAC secrets, one SecureString per source name (ingest).
pub const ENV_WEBHOOK_SECRETS_PATH: &str = "MUSTER_WEBHOOK_SECRETS_PATH";
/// SSM path of the tracker webhook secrets, `<path>/github` and `<path>/jira` (tracker-events).
pub const ENV_TRACKER_SECRETS_PATH: &str = "MUSTER_TRACKER_SECRETS_PATH";
/// SSM parameter of the Jira API token (`trackers.jira.token_env`).
pub const ENV_JIRA_TOKEN_PARAM: &str = "MUSTER_JIRA_TOKEN_PARAM";
/// SSM parameter of the GitHub token (`trackers.github.token_env`).
pub const ENV_GITHUB_TOKEN_PARAM: &str = "MUSTER_GITHUB_TOKEN_PARAM";
/// SSM parameter of the Slack bot token (`slack.token_env`).
pub const ENV_SLACK_BOT_TOKEN_PARAM: &str = "MUSTER_SLACK_BOT_TOKEN_PARAM";
/// SSM parameter of the Slack signing secret (`slack.signing_secret_env`).
pub const ENV_SLACK_SIGNING_SECRET_PARAM: &str = "MUSTER_SLACK_SIGNING_SECRET_PARAM";
/// SSM parameter with the bearer token of `GET /gate` (supplies `http.read_token_env`).
pub const ENV_READ_TOKEN_PARAM: &str = "MUSTER_READ_TOKEN_PARAM";

/// Why a secret cannot be read. Names the variable and the parameter, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("environment variable {variable} must name an SSM parameter or path starting with \"/\", not {value:?}")]
    BadName { variable: &'static str, value: String },
    #[error("SSM parameter {parameter} (named by {variable}) does not exist; create it as a SecureString")]
    NotFound { variable: &'static str, parameter: String },
    #[error("SSM parameter {parameter} (named by {variable}) is a {kind}, not a SecureString; store secrets encrypted")]
    NotSecure {
        variable: &'static str,
        parameter: String,
        kind: String,
    },
    #[error("SSM parameter {parameter} (named by {variable}) is empty")]
    Empty { variable: &'static str, parameter: String },
    #[error("cannot read SSM {parameter} (named by {variable}): {message}")]
    Read {
        variable: &'static str,
        parameter: String,
        message: String,
    },
}

/// The secrets one function's environment gives it, resolved once. `Debug` shows names only.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Values of the variables muster.toml names, from the environment or a `_PARAM`.
    variables: HashMap<String, String>,
    /// Webhook HMAC secrets by source name, and the path they were read from.
    webhooks: HashMap<String, String>,
    webhook_path: Option<String>,
    /// Tracker webhook secrets (`github`, `jira`), and the path they were read from.
    tracker_webhooks: HashMap<String, String>,
    tracker_path: Option<String>,
    /// The Slack signing secret from `MUSTER_SLACK_SIGNING_SECRET_PARAM`.
    slack_signing: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |map: &HashMap<String, String>| {
            let mut keys: Vec<String> = map.keys().cloned().collect();
            keys.sort();
            keys
        };
        f.debug_struct("Secrets")
            .field("variables", &keys(&self.variables))
            .field("webhooks", &keys(&self.webhooks))
            .field("webhook_path", &self.webhook_path)
            .field("tracker_webhooks", &keys(&self.tracker_webhooks))
            .field("tracker_path", &self.tracker_path)
            .field("slack_signing", &self.slack_signing.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Secrets {
    /// Reads what `env` (the process environment, or a map in tests) and `config` call for.
    /// No SSM request is made when no `_PATH` / `_PARAM` variable applies.
    pub async fn load(
        ssm: &aws_sdk_ssm::Client,
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretsError> {
        let env = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut secrets = Self::default();
        // Each token: the variable muster.toml names, else the parameter its `_PARAM` names.
        let mut tokens: Vec<(&str, &'static str)> = Vec::new();
        if let Some(jira) = &config.trackers.jira {
            tokens.push((&jira.token_env, ENV_JIRA_TOKEN_PARAM));
        }
        if let Some(github) = &config.trackers.github {
            tokens.push((&github.token_env, ENV_GITHUB_TOKEN_PARAM));
        }
        if let Some(variable) = &config.http.read_token_env {
            tokens.push((variable, ENV_READ_TOKEN_PARAM));
        }
        if let Some(slack) = &config.slack {
            tokens.push((&slack.token_env, ENV_SLACK_BOT_TOKEN_PARAM));
            if let Some(variable) = &slack.signing_secret_env {
                tokens.push((variable, ENV_SLACK_SIGNING_SECRET_PARAM));
            }
        }
        // Request secrets named by variable have no `_PARAM` of their own (their SSM home is a
        // path): only the environment can set the variable.
        let named = config.sources.iter().filter_map(|s| s.secret_env.as_ref()).chain(
            [
                config
                    .trackers
                    .github
                    .as_ref()
                    .and_then(|g| g.webhook_secret_env.as_ref()),
                config
                    .trackers
                    .jira
                    .as_ref()
                    .and_then(|j| j.webhook_secret_env.as_ref()),
            ]
            .into_iter()
            .flatten(),
        );
        for variable in named {
            if let Some(value) = env(variable) {
                secrets.variables.insert(variable.clone(), value);
            }
        }
        for (variable, param) in tokens {
            let value = match env(variable) {
                Some(value) => Some(value),
                None => match env(param) {
                    Some(name) => Some(get_parameter(ssm, param, &name).await?),
                    None => None,
                },
            };
            if let Some(value) = value {
                secrets.variables.insert(variable.to_owned(), value);
            }
        }
        // The signing secret also counts when muster.toml names no variable for it: the
        // template gives slack-actions the parameter, and a stored secret is always enforced.
        if config.slack.is_some()
            && let Some(name) = env(ENV_SLACK_SIGNING_SECRET_PARAM)
        {
            let variable = config.slack.as_ref().and_then(|s| s.signing_secret_env.as_ref());
            secrets.slack_signing = match variable.and_then(|v| secrets.variables.get(v)) {
                Some(value) => Some(value.clone()),
                None => Some(get_parameter(ssm, ENV_SLACK_SIGNING_SECRET_PARAM, &name).await?),
            };
        }
        if let Some(path) = env(ENV_WEBHOOK_SECRETS_PATH) {
            secrets.webhooks = parameters_by_path(ssm, ENV_WEBHOOK_SECRETS_PATH, &path).await?;
            for name in secrets.webhooks.keys() {
                if config.source(name).is_none() {
                    tracing::warn!(parameter = %format!("{path}/{name}"), "SSM webhook secret for a source muster.toml does not configure; ignored");
                }
            }
            secrets.webhook_path = Some(path);
        }
        if let Some(path) = env(ENV_TRACKER_SECRETS_PATH) {
            secrets.tracker_webhooks = parameters_by_path(ssm, ENV_TRACKER_SECRETS_PATH, &path).await?;
            for name in secrets.tracker_webhooks.keys() {
                if !matches!(name.as_str(), "github" | "jira") {
                    tracing::warn!(parameter = %format!("{path}/{name}"), "SSM tracker secret is neither github nor jira; ignored");
                }
            }
            secrets.tracker_path = Some(path);
        }
        Ok(secrets)
    }

    /// The value of a variable muster.toml names (a token or request secret), from the
    /// environment or a `_PARAM`; what `muster_trackers::from_config` and
    /// `muster_slack::from_config` look tokens up with.
    pub fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).cloned()
    }

    /// The HMAC secret of webhook source `name` from `MUSTER_WEBHOOK_SECRETS_PATH`.
    pub fn webhook(&self, name: &str) -> Option<String> {
        self.webhooks.get(name).cloned()
    }

    /// The webhook secret of tracker `github` or `jira` from `MUSTER_TRACKER_SECRETS_PATH`.
    pub fn tracker_webhook(&self, tracker: &str) -> Option<String> {
        self.tracker_webhooks.get(tracker).cloned()
    }

    /// The Slack signing secret from `MUSTER_SLACK_SIGNING_SECRET_PARAM`.
    pub fn slack_signing_secret(&self) -> Option<String> {
        self.slack_signing.clone()
    }

    /// Where a webhook source's secret would be in SSM, for error messages.
    pub fn webhook_parameter(&self, name: &str) -> Option<String> {
        self.webhook_path.as_ref().map(|path| format!("{path}/{name}"))
    }

    /// Where a tracker's webhook secret would be in SSM, for error messages.
    pub fn tracker_parameter(&self, tracker: &str) -> Option<String> {
        self.tracker_path.as_ref().map(|path| format!("{path}/{tracker}"))
    }
}

/// SSM names carry the leading `/` (the template adds it); a trailing one is dropped.
fn checked_name(variable: &'static str, name: &str) -> Result<String, SecretsError> {
    let trimmed = name.trim_end_matches('/');
    if !name.starts_with('/') || trimmed.is_empty() {
        return Err(SecretsError::BadName {
            variable,
            value: name.to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

/// One decrypted SecureString.
async fn get_parameter(ssm: &aws_sdk_ssm::Client, variable: &'static str, name: &str) -> Result<String, SecretsError> {
    let name = checked_name(variable, name)?;
    let output = ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| {
            if error.as_service_error().is_some_and(|e| e.is_parameter_not_found()) {
                SecretsError::NotFound {
                    variable,
                    parameter: name.clone(),
                }
            } else {
                SecretsError::Read {
                    variable,
                    parameter: name.clone(),
                    message: DisplayErrorContext(&error).to_string(),
                }
            }
        })?;
    let parameter = output.parameter.ok_or_else(|| SecretsError::NotFound {
        variable,
        parameter: name.clone(),
    })?;
    secure_value(variable, &name, parameter)
}

/// Every SecureString directly under `path`, by the last segment of its name; paginated.
async fn parameters_by_path(
    ssm: &aws_sdk_ssm::Client,
    variable: &'static str,
    path: &str,
) -> Result<HashMap<String, String>, SecretsError> {
    let path = checked_name(variable, path)?;
    let mut values = HashMap::new();
    let mut next_token = None;
    loop {
        let page = ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(false)
            .with_decryption(true)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| SecretsError::Read {
                variable,
                parameter: format!("path {path}"),
                message: DisplayErrorContext(&error).to_string(),
            })?;
        for parameter in page.parameters.unwrap_or_default() {
            let name = parameter.name.clone().unwrap_or_default();
            let key = name.rsplit('/').next().unwrap_or_default().to_owned();
            let value = secure_value(variable, &name, parameter)?;
            values.insert(key, value);
        }
        next_token = page.next_token.filter(|t| !t.is_empty());
        if next_token.is_none() {
            break;
        }
    }
    tracing::info!(path = %path, parameters = values.len(), "secrets read from SSM");
    Ok(values)
}

/// The value of a SecureString; a plain String or StringList is refused, as is an empty value.
fn secure_value(variable: &'static str, name: &str, parameter: Parameter) -> Result<String, SecretsError> {
    match parameter.r#type {
        Some(ParameterType::SecureString) => {}
        other => {
            return Err(SecretsError::NotSecure {
                variable,
                parameter: name.to_owned(),
                kind: other.map_or_else(|| "parameter of unknown type".to_owned(), |t| t.as_str().to_owned()),
            });
        }
    }
    parameter
        .value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SecretsError::Empty {
            variable,
            parameter: name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_absolute() {
        assert_eq!(checked_name("V", "/muster/webhooks/").unwrap(), "/muster/webhooks");
        let error = checked_name("MUSTER_WEBHOOK_SECRETS_PATH", "muster/webhooks").unwrap_err();
        assert!(error.to_string().contains("MUSTER_WEBHOOK_SECRETS_PATH"), "{error}");
        assert!(checked_name("V", "/").is_err());
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut secrets = Secrets::default();
        secrets.variables.insert("JIRA_TOKEN".into(), "s3cr3t-value".into());
        secrets.webhooks.insert("ci".into(), "s3cr3t-value".into());
        secrets.slack_signing = Some("s3cr3t-value".into());
        let shown = format!("{secrets:?}");
        assert!(shown.contains("JIRA_TOKEN") && shown.contains("ci"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn a_plain_string_is_refused_without_its_value() {
        let parameter = Parameter::builder()
            .name("/muster/webhooks/ci")
            .r#type(ParameterType::String)
            .value("s3cr3t-value")
            .build();
        let error = secure_value(ENV_WEBHOOK_SECRETS_PATH, "/muster/webhooks/ci", parameter).unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.contains("/muster/webhooks/ci") && shown.contains("SecureString"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
