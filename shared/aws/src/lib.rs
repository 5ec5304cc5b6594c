//! muster on AWS: the DynamoDB single-table store and the SQS queue, the production twins of
//! `muster-local`'s SQLite store and in-process queue.
//!
//! Both implement the core ports with the same observable semantics as the embedded adapters
//! (the conformance suite in `tests/store_conformance.rs` runs against both). This crate never
//! reads credentials itself: the caller builds the SDK clients (from the Lambda environment, or
//! pointed at `moto_server` in tests) and hands them in.

mod dynamo;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod lambda;
#[cfg(feature = "presign")]
pub mod presign;
#[cfg(feature = "presign")]
pub mod s3;
pub mod secrets;
mod sqs;
#[cfg(feature = "uploads")]
pub mod uploads;

pub use dynamo::{
    DEFAULT_RETENTION_DAYS, DynamoStore, GROUP_INDEX, OPEN_INDEX, OWNER_INDEX, RequestCounts, TTL_ATTRIBUTE,
};
pub use error::AwsError;
pub use sqs::{QueueUrls, SqsQueue};

/// Re-exported so callers configure clients with the exact SDK versions this crate was built with.
pub use aws_config;
pub use aws_sdk_dynamodb;
pub use aws_sdk_sqs;
pub use aws_sdk_ssm;
