//! Aggregated failure alerts: when pipeline work fails for good (a tracker refuses tickets,
//! Slack is down), the security leads get one message summarising it by stage and cause —
//! never one per finding — and the work stays in the dead letters for `muster retry`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::ports::{ChatMessage, ChatSink, DeadLetter, SinkError};

/// Causes listed in one alert; the rest are counted.
const MAX_CAUSES: usize = 5;
/// Characters of an error that identify its cause (the rest is usually ids and bodies).
const CAUSE_CHARS: usize = 100;

/// The alert for `letters`, or `None` when there are none. Alerts with the same causes in the
/// same hour share a dedupe key, so a storm of failures is told once per hour.
pub fn failure_alert(letters: &[DeadLetter], channel: &str, now: DateTime<Utc>) -> Option<ChatMessage> {
    if letters.is_empty() {
        return None;
    }
    let mut causes: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for letter in letters {
        let cause: String = letter.error.chars().take(CAUSE_CHARS).collect();
        *causes.entry((letter.message.kind(), cause)).or_default() += 1;
    }
    let mut ranked: Vec<_> = causes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut text = format!(
        ":warning: muster: {} pipeline message(s) failed after their retries and wait in the dead letters \
         (`muster retry --list`; on AWS the queues' DLQs):",
        letters.len()
    );
    let mut hasher = Sha256::new();
    for ((kind, cause), count) in ranked.iter().take(MAX_CAUSES) {
        let _ = write!(text, "\n• {kind} × {count}: {cause}");
        hasher.update(kind.as_bytes());
        hasher.update(cause.as_bytes());
    }
    if ranked.len() > MAX_CAUSES {
        let _ = write!(text, "\n…and {} more causes", ranked.len() - MAX_CAUSES);
    }
    Some(ChatMessage {
        channel: channel.to_owned(),
        dedupe_key: format!(
            "failures:{}:{}",
            now.format("%Y-%m-%dT%H"),
            hex::encode(&hasher.finalize()[..8])
        ),
        text,
        blocks: None,
        card: None,
        digest: None,
    })
}

/// Posts the alert for `letters`, if any.
pub async fn alert_failures<N: ChatSink>(
    chat: &N,
    channel: &str,
    letters: &[DeadLetter],
    now: DateTime<Utc>,
) -> Result<(), SinkError> {
    match failure_alert(letters, channel, now) {
        Some(message) => chat.post(&message).await,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Message;
    use crate::model::GroupKey;

    fn letter(group: &str, error: &str) -> DeadLetter {
        DeadLetter {
            id: 0,
            message: Message::Ticket {
                group: GroupKey::parse(group).unwrap(),
            },
            error: error.into(),
            attempts: 5,
            failed_at: Utc::now(),
        }
    }

    #[test]
    fn many_failures_make_one_alert_grouped_by_cause() {
        let now = "2026-11-27T10:15:00Z".parse().unwrap();
        let mut letters: Vec<DeadLetter> = (0..40)
            .map(|i| {
                letter(
                    &format!("team/asset-{i}/pkg:x"),
                    "sink: rejected: jira POST /issue answered 404",
                )
            })
            .collect();
        letters.push(letter("team/a/pkg:y", "sink: rate limited; retry after 30s"));

        let alert = failure_alert(&letters, "#security", now).unwrap();

        assert_eq!(alert.channel, "#security");
        assert!(alert.text.contains("41 pipeline message(s)"), "{}", alert.text);
        assert!(
            alert
                .text
                .contains("ticket × 40: sink: rejected: jira POST /issue answered 404")
        );
        assert!(alert.text.contains("ticket × 1: sink: rate limited"));
        assert_eq!(alert.text.lines().count(), 3, "one line per cause, not per finding");
        // Same causes within the hour: same key (told once); the next hour: told again.
        let later = failure_alert(&letters[..2], "#security", "2026-11-27T10:59:00Z".parse().unwrap()).unwrap();
        let next_hour = failure_alert(&letters, "#security", "2026-11-27T11:00:00Z".parse().unwrap()).unwrap();
        assert_ne!(alert.dedupe_key, later.dedupe_key, "different causes");
        assert_ne!(alert.dedupe_key, next_hour.dedupe_key);
        assert_eq!(
            alert.dedupe_key,
            failure_alert(&letters, "#security", now).unwrap().dedupe_key
        );
        assert!(failure_alert(&[], "#security", now).is_none());
    }
}
