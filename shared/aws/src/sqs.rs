//! The SQS queue: hands pipeline messages to the next stage's queue, in batches.
//!
//! Owns routing (message kind → queue URL), batching (≤ 10 entries, ≤ 256 KiB per call) and the
//! retry of entries SQS refused one by one. It never drops a message silently: what still fails
//! after the retries is reported as `QueueError::Rejected`, and the caller's message goes back to
//! its own queue (at-least-once; every stage is idempotent).

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use muster_core::messages::Message;
use muster_core::ports::{Queue, QueueError};
use muster_core::retry::RetryPolicy;

use crate::error::AwsError;

/// SQS takes at most 10 entries per SendMessageBatch.
const MAX_ENTRIES: usize = 10;
/// SQS takes at most 256 KiB per batch (bodies and attributes); keep a margin for the
/// attribute's name and type, counted per entry below.
const MAX_BATCH_BYTES: usize = 256 * 1024;
const ATTRIBUTE_OVERHEAD: usize = 64;

/// Where each stage's messages go: one queue per consuming Lambda function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub triage: String,
    pub ticket: String,
    pub notify: String,
}

impl QueueUrls {
    fn route(&self, message: &Message) -> &str {
        match message {
            Message::Triage { .. } => &self.triage,
            Message::Ticket { .. } => &self.ticket,
            Message::Notify { .. } => &self.notify,
        }
    }
}

/// A `Queue` over SQS. Messages are the JSON of `Message`, with a `type` string attribute
/// (`Message::kind`) so a consumer, a DLQ redrive or a person can tell them apart unparsed.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: QueueUrls,
    retry: RetryPolicy,
}

/// One entry that failed for good.
struct Failure {
    code: String,
    message: String,
}

impl SqsQueue {
    pub fn new(client: Client, urls: QueueUrls) -> Self {
        Self {
            client,
            urls,
            retry: RetryPolicy {
                max_attempts: 5,
                first_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_secs(2),
            },
        }
    }

    /// How often entries SQS refused individually (throttling, internal errors) are re-sent.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends one batch (≤ 10 bodies) to `url`, re-sending refused entries that were not the
    /// sender's fault; returns the entries that failed for good.
    async fn send_batch(&self, url: &str, kinds: &[&'static str], bodies: &[String]) -> Result<Vec<Failure>, AwsError> {
        // Entry ids are the positions in this batch: unique, and stable across the retries.
        let mut pending: Vec<usize> = (0..bodies.len()).collect();
        let mut failed = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut entries = Vec::with_capacity(pending.len());
            for &index in &pending {
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(&bodies[index])
                        .message_attributes(
                            "type",
                            MessageAttributeValue::builder()
                                .data_type("String")
                                .string_value(kinds[index])
                                .build()?,
                        )
                        .build()?,
                );
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::sqs("SendMessageBatch", url, e))?;
            let mut retry = Vec::new();
            for entry in output.failed() {
                let index: usize = entry.id().parse().map_err(|_| AwsError::Request {
                    service: "SQS",
                    operation: "SendMessageBatch",
                    resource: url.to_owned(),
                    message: format!("answer names unknown entry id {:?}", entry.id()),
                })?;
                // A sender fault (bad body or attribute) fails the same way every time.
                if entry.sender_fault() || attempt >= self.retry.max_attempts {
                    failed.push(Failure {
                        code: entry.code().to_owned(),
                        message: entry.message().unwrap_or_default().to_owned(),
                    });
                } else {
                    retry.push(index);
                }
            }
            if retry.is_empty() {
                return Ok(failed);
            }
            tracing::debug!(
                left = retry.len(),
                attempt,
                queue = url,
                "re-sending refused SQS entries"
            );
            tokio::time::sleep(self.retry.backoff(attempt)).await;
            pending = retry;
        }
    }
}

impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<Message>) -> Result<(), QueueError> {
        let total = messages.len();
        // Per queue, in the order given.
        let mut routed: Vec<(&str, Vec<(&'static str, String)>)> = Vec::new();
        let mut slots: HashMap<&str, usize> = HashMap::new();
        for message in &messages {
            let url = self.urls.route(message);
            let body = serde_json::to_string(message).map_err(|e| QueueError::Unknown(e.into()))?;
            let slot = *slots.entry(url).or_insert_with(|| {
                routed.push((url, Vec::new()));
                routed.len() - 1
            });
            routed[slot].1.push((message.kind(), body));
        }
        let mut failures = Vec::new();
        for (url, entries) in routed {
            let mut kinds: Vec<&'static str> = Vec::new();
            let mut bodies: Vec<String> = Vec::new();
            let mut bytes = 0;
            for (kind, body) in entries {
                let size = body.len() + kind.len() + ATTRIBUTE_OVERHEAD;
                if !bodies.is_empty() && (bodies.len() == MAX_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
                    failures.extend(self.send_batch(url, &kinds, &bodies).await?);
                    kinds.clear();
                    bodies.clear();
                    bytes = 0;
                }
                kinds.push(kind);
                bodies.push(body);
                bytes += size;
            }
            if !bodies.is_empty() {
                failures.extend(self.send_batch(url, &kinds, &bodies).await?);
            }
        }
        match failures.first() {
            None => Ok(()),
            Some(first) => Err(QueueError::Rejected {
                failed: failures.len(),
                total,
                reason: format!("{}: {}", first.code, first.message),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use muster_core::model::GroupKey;
    use std::time::Duration;

    fn urls() -> QueueUrls {
        QueueUrls {
            triage: "https://sqs/triage".into(),
            ticket: "https://sqs/ticket".into(),
            notify: "https://sqs/notify".into(),
        }
    }

    fn tickets(count: usize) -> Vec<Message> {
        (0..count)
            .map(|i| Message::Ticket {
                group: GroupKey::parse(&format!("a/b/{i}")).unwrap(),
            })
            .collect()
    }

    fn ok(id: &str) -> SendMessageBatchResultEntry {
        SendMessageBatchResultEntry::builder()
            .id(id)
            .message_id(format!("m-{id}"))
            .md5_of_message_body("x")
            .build()
            .unwrap()
    }

    fn failed(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code(if sender_fault {
                "InvalidMessageContents"
            } else {
                "InternalError"
            })
            .message("refused")
            .build()
            .unwrap()
    }

    /// Answers every entry with success, except those `refuse` picks.
    fn answer(input: &SendMessageBatchInput, refuse: impl Fn(&str) -> Option<bool>) -> SendMessageBatchOutput {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for entry in input.entries() {
            match refuse(entry.id()) {
                Some(sender_fault) => bad.push(failed(entry.id(), sender_fault)),
                None => good.push(ok(entry.id())),
            }
        }
        SendMessageBatchOutput::builder()
            .set_successful(Some(good))
            .set_failed(Some(bad))
            .build()
            .unwrap()
    }

    fn queue(client: Client) -> SqsQueue {
        SqsQueue::new(client, urls()).with_retry(RetryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        })
    }

    #[tokio::test]
    async fn entries_refused_by_sqs_are_resent_alone() {
        // GIVEN SQS refuses entry 3 of the first batch once (not the sender's fault)
        let refused = mock!(Client::send_message_batch)
            .match_requests(|input| input.entries().len() == 10)
            .then_compute_output(|input| answer(input, |id| (id == "3").then_some(false)));
        let resent = mock!(Client::send_message_batch)
            .match_requests(|input| input.entries().len() < 10)
            .then_compute_output(|input| answer(input, |_| None));
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&refused, &resent]);

        // WHEN 12 ticket messages are sent
        queue(client).send(tickets(12)).await.unwrap();

        // THEN a batch of 10, the refused entry alone, then the remaining 2
        assert_eq!(refused.num_calls(), 1);
        assert_eq!(resent.num_calls(), 2);
    }

    #[tokio::test]
    async fn entries_that_keep_failing_are_reported() {
        // A sender fault is not retried; a transient refusal is retried up to the policy.
        let rule = mock!(Client::send_message_batch).then_compute_output(|input| {
            answer(input, |id| match id {
                "0" => Some(true),
                "1" => Some(false),
                _ => None,
            })
        });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);

        let error = queue(client).send(tickets(3)).await.unwrap_err();

        match error {
            QueueError::Rejected { failed, total, reason } => {
                assert_eq!((failed, total), (2, 3));
                assert!(reason.starts_with("InvalidMessageContents"), "{reason}");
            }
            other => panic!("expected a rejection, got {other}"),
        }
        assert_eq!(rule.num_calls(), 3, "entry 1 was sent three times");
    }
}
