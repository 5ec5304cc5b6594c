//! Any form body given to the Slack interactivity decoder ends in an action or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(action) = muster_slack::parse_action(data) {
        // Decoding is deterministic: the same bytes give the same action.
        let again = muster_slack::parse_action(data).expect("the same bytes decode again");
        assert_eq!(action, again);
    }
});
