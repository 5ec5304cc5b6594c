//! What can go wrong talking to AWS, before it is mapped onto the ports' error enums.
//!
//! Messages name the operation and the table or queue so an operator can act; they carry the
//! SDK's error chain but never request bodies or credentials.

use muster_core::ports::{QueueError, StoreError};

/// Errors of the DynamoDB and SQS adapters.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The SDK call failed (after the SDK's own retries for transient errors).
    #[error("{service} {operation} on {resource} failed: {message}")]
    Request {
        service: &'static str,
        operation: &'static str,
        resource: String,
        message: String,
    },
    /// Throttling kept part of a batch unprocessed through every retry.
    #[error("{service} {operation} on {resource}: {left} items still unprocessed after {attempts} attempts")]
    Unprocessed {
        service: &'static str,
        operation: &'static str,
        resource: String,
        left: usize,
        attempts: u32,
    },
    /// A stored item does not have the shape this version writes.
    #[error("stored item {key} is malformed: {what}")]
    Malformed { key: String, what: String },
    /// A value is too large for one DynamoDB item (400 KB).
    #[error("{what} is {bytes} bytes, more than one DynamoDB item holds ({limit} bytes)")]
    TooLarge { what: String, bytes: usize, limit: usize },
    /// A request could not be built (a required field was missing): a bug in this crate.
    #[error("cannot build the request: {0}")]
    Build(String),
}

impl AwsError {
    pub(crate) fn dynamo(operation: &'static str, table: &str, error: impl std::error::Error) -> Self {
        Self::Request {
            service: "DynamoDB",
            operation,
            resource: table.to_owned(),
            message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
        }
    }

    pub(crate) fn sqs(operation: &'static str, queue: &str, error: impl std::error::Error) -> Self {
        Self::Request {
            service: "SQS",
            operation,
            resource: queue.to_owned(),
            message: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
        }
    }

    pub(crate) fn malformed(key: impl Into<String>, what: impl Into<String>) -> Self {
        Self::Malformed {
            key: key.into(),
            what: what.into(),
        }
    }
}

/// One type for both SDKs (it lives in `aws-smithy-types`).
impl From<aws_sdk_dynamodb::error::BuildError> for AwsError {
    fn from(error: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Build(error.to_string())
    }
}

impl From<AwsError> for StoreError {
    fn from(error: AwsError) -> Self {
        match error {
            AwsError::Malformed { .. } => StoreError::Corrupt(error.to_string()),
            other => StoreError::Unknown(anyhow::Error::new(other)),
        }
    }
}

impl From<AwsError> for QueueError {
    fn from(error: AwsError) -> Self {
        QueueError::Unknown(anyhow::Error::new(error))
    }
}
