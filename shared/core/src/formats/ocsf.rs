//! OCSF findings.
//!
//! Not implemented yet: every report of this format is refused with a clear error.

use super::{ParseContext, ParseError};
use crate::model::Scan;

pub fn parse(_bytes: &[u8], _ctx: &ParseContext) -> Result<Vec<Scan>, ParseError> {
    Err(ParseError::Schema {
        format: "ocsf",
        message: "this format is not supported yet".to_owned(),
    })
}
