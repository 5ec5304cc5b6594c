//! Routes each ticket to the tracker its team uses: Jira, GitHub, or the outbox when that
//! tracker is not configured. It never moves an existing ticket between trackers: a ticket
//! whose tracker was configured away is refused, not re-created elsewhere.

use muster_core::config::TrackersConfig;
use muster_core::model::Tier;
use muster_core::ownership::Tracker;
use muster_core::ports::{SinkError, TicketDraft, TicketRef, TicketSink};

use crate::github::{self, GitHubSink};
use crate::jira::{self, JiraSink};
use crate::{ConfigError, GitHubSettings, JiraSettings};

/// The router `[trackers]` of muster.toml describes, with tokens read from the environment
/// once (`env` is `std::env::var` outside tests). Trackers not configured leave their teams'
/// tickets in `outbox`.
pub fn from_config<O>(
    config: &TrackersConfig,
    env: impl Fn(&str) -> Option<String>,
    outbox: O,
) -> Result<TrackerRouter<O>, ConfigError> {
    let token = |tracker: &'static str, variable: &str| {
        env(variable)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::MissingToken {
                tracker,
                variable: variable.to_owned(),
            })
    };
    let jira = match &config.jira {
        None => None,
        Some(jira) => {
            let mut settings = JiraSettings::new(&jira.url, &jira.email, token(jira::TRACKER, &jira.token_env)?);
            settings.issue_type = jira.issue_type.clone();
            settings.priorities = Tier::ALL.map(|tier| jira.priorities.get(&tier).cloned().unwrap_or_default());
            settings.done_transition = jira.done_transition.clone();
            settings.reopen_transition = jira.reopen_transition.clone();
            settings.set_due_date = jira.due_date;
            settings.fields = jira
                .fields
                .iter()
                .map(|(name, value)| {
                    let json = serde_json::to_value(value)
                        .map_err(|e| ConfigError::invalid("trackers.jira.fields value", name, e))?;
                    Ok((name.clone(), json))
                })
                .collect::<Result<_, ConfigError>>()?;
            Some(JiraSink::new(settings)?)
        }
    };
    let github = match &config.github {
        None => None,
        Some(github) => {
            let mut settings = GitHubSettings::new(token(github::TRACKER, &github.token_env)?);
            settings.api_url = github.api_url.clone();
            Some(GitHubSink::new(settings)?)
        }
    };
    Ok(TrackerRouter { jira, github, outbox })
}

/// A `TicketSink` over the configured trackers, falling back to `outbox` (usually
/// `OutboxTickets`) for drafts whose destination has no credentials.
#[derive(Debug, Clone)]
pub struct TrackerRouter<O> {
    /// Set when Jira credentials are configured; Jira-bound drafts go to the outbox otherwise.
    pub jira: Option<JiraSink>,
    /// Set when a GitHub token is configured; GitHub-bound drafts go to the outbox otherwise.
    pub github: Option<GitHubSink>,
    /// Receives drafts without a configured tracker, and owns tickets it created.
    pub outbox: O,
}

/// Which sink handles something; borrowed so each call dispatches without boxing.
enum Route<'a, O> {
    Jira(&'a JiraSink),
    GitHub(&'a GitHubSink),
    Outbox(&'a O),
}

impl<O: TicketSink> TrackerRouter<O> {
    fn for_draft(&self, draft: &TicketDraft) -> Route<'_, O> {
        match (&draft.destination, &self.jira, &self.github) {
            (Some(Tracker::Jira { .. }), Some(jira), _) => Route::Jira(jira),
            (Some(Tracker::Github { .. }), _, Some(github)) => Route::GitHub(github),
            _ => Route::Outbox(&self.outbox),
        }
    }

    fn for_ticket(&self, ticket: &TicketRef) -> Result<Route<'_, O>, SinkError> {
        let missing = |name: &str| {
            SinkError::Rejected(format!(
                "ticket {} lives in {name}, but no {name} tracker is configured; \
                 configure {name} credentials again to keep syncing it",
                ticket.key
            ))
        };
        match ticket.tracker.as_str() {
            jira::TRACKER => self
                .jira
                .as_ref()
                .map(Route::Jira)
                .ok_or_else(|| missing(jira::TRACKER)),
            github::TRACKER => self
                .github
                .as_ref()
                .map(Route::GitHub)
                .ok_or_else(|| missing(github::TRACKER)),
            _ => Ok(Route::Outbox(&self.outbox)),
        }
    }
}

impl<O: TicketSink> TicketSink for TrackerRouter<O> {
    fn tracker(&self, draft: &TicketDraft) -> &str {
        match self.for_draft(draft) {
            Route::Jira(sink) => sink.tracker(draft),
            Route::GitHub(sink) => sink.tracker(draft),
            Route::Outbox(sink) => sink.tracker(draft),
        }
    }

    async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
        match self.for_draft(draft) {
            Route::Jira(sink) => sink.create(draft).await,
            Route::GitHub(sink) => sink.create(draft).await,
            Route::Outbox(sink) => sink.create(draft).await,
        }
    }

    async fn find(&self, draft: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
        match self.for_draft(draft) {
            Route::Jira(sink) => sink.find(draft).await,
            Route::GitHub(sink) => sink.find(draft).await,
            Route::Outbox(sink) => sink.find(draft).await,
        }
    }

    async fn update(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        match self.for_ticket(ticket)? {
            Route::Jira(sink) => sink.update(ticket, draft).await,
            Route::GitHub(sink) => sink.update(ticket, draft).await,
            Route::Outbox(sink) => sink.update(ticket, draft).await,
        }
    }

    async fn close(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        match self.for_ticket(ticket)? {
            Route::Jira(sink) => sink.close(ticket, draft).await,
            Route::GitHub(sink) => sink.close(ticket, draft).await,
            Route::Outbox(sink) => sink.close(ticket, draft).await,
        }
    }

    async fn reopen(&self, ticket: &TicketRef, draft: &TicketDraft) -> Result<(), SinkError> {
        match self.for_ticket(ticket)? {
            Route::Jira(sink) => sink.reopen(ticket, draft).await,
            Route::GitHub(sink) => sink.reopen(ticket, draft).await,
            Route::Outbox(sink) => sink.reopen(ticket, draft).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::{TimeZone, Utc};
    use muster_core::model::{GroupKey, TeamId, Tier};

    use super::*;
    use crate::jira::JiraSettings;

    /// Records what reached it, like the outbox would.
    #[derive(Default)]
    struct FakeOutbox(Mutex<Vec<String>>);

    impl TicketSink for FakeOutbox {
        fn tracker(&self, _: &TicketDraft) -> &str {
            "outbox"
        }
        async fn create(&self, draft: &TicketDraft) -> Result<TicketRef, SinkError> {
            self.0.lock().unwrap().push(format!("create {}", draft.group));
            Ok(TicketRef {
                tracker: "outbox".into(),
                key: "OUTBOX-1".into(),
                url: None,
            })
        }
        async fn find(&self, _: &TicketDraft) -> Result<Option<TicketRef>, SinkError> {
            self.0.lock().unwrap().push("find".into());
            Ok(None)
        }
        async fn update(&self, ticket: &TicketRef, _: &TicketDraft) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(format!("update {}", ticket.key));
            Ok(())
        }
        async fn close(&self, ticket: &TicketRef, _: &TicketDraft) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(format!("close {}", ticket.key));
            Ok(())
        }
        async fn reopen(&self, ticket: &TicketRef, _: &TicketDraft) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(format!("reopen {}", ticket.key));
            Ok(())
        }
    }

    fn draft(destination: Option<Tracker>) -> TicketDraft {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        TicketDraft {
            group: GroupKey::parse("pay/img/pkg:openssl").unwrap(),
            owner: TeamId::parse("pay").unwrap(),
            title: "Upgrade openssl".into(),
            body: "body".into(),
            tier: Tier::P2,
            due_at: at,
            labels: vec![],
            digest: "d".into(),
            revision: at,
            destination,
            assignees: vec![],
            note: None,
        }
    }

    fn jira_sink() -> JiraSink {
        // Nothing listens here: the tests only check which sink a call is routed to.
        JiraSink::new(JiraSettings::new("http://127.0.0.1:9", "bot@acme.test", "t")).unwrap()
    }

    #[tokio::test]
    async fn drafts_for_unconfigured_trackers_go_to_the_outbox() {
        // GIVEN a router with Jira only
        let router = TrackerRouter {
            jira: Some(jira_sink()),
            github: None,
            outbox: FakeOutbox::default(),
        };
        let to_github = draft(Some(Tracker::Github {
            repo: "acme/pay".into(),
        }));
        let to_jira = draft(Some(Tracker::Jira { project: "PAY".into() }));

        // WHEN / THEN
        assert_eq!(router.tracker(&to_github), "outbox");
        assert_eq!(router.tracker(&draft(None)), "outbox");
        assert_eq!(router.tracker(&to_jira), "jira");
        let created = router.create(&to_github).await.unwrap();
        assert_eq!(created.key, "OUTBOX-1");
        assert_eq!(router.find(&draft(None)).await.unwrap(), None);
        router.close(&created, &to_github).await.unwrap();
        assert_eq!(
            *router.outbox.0.lock().unwrap(),
            ["create pay/img/pkg:openssl", "find", "close OUTBOX-1"]
        );
    }

    #[tokio::test]
    async fn tickets_of_a_tracker_configured_away_are_refused() {
        let router = TrackerRouter {
            jira: None,
            github: None,
            outbox: FakeOutbox::default(),
        };
        let ticket = TicketRef {
            tracker: "jira".into(),
            key: "PAY-12".into(),
            url: None,
        };

        let result = router.update(&ticket, &draft(None)).await;

        let Err(SinkError::Rejected(message)) = result else {
            panic!("{result:?}")
        };
        assert!(
            message.contains("PAY-12") && message.contains("no jira tracker"),
            "{message}"
        );
        assert!(router.outbox.0.lock().unwrap().is_empty());
    }
}
