//! Any body given to the tracker webhook decoders (Jira `jira:issue_updated`, GitHub `issues`)
//! ends in an event, nothing, or an error. The first byte picks the decoder.
#![no_main]

use muster_core::services::tracker_sync::{parse_github_issue_event, parse_jira_event};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        let _ = parse_jira_event(body, &["Won't Do".to_string(), "Declined".to_string()]);
    } else {
        let _ = parse_github_issue_event(body);
    }
});
