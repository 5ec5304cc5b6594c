//! Slack interactivity: turns a button click (`block_actions`) into a `SlackAction`.
//!
//! Parses only; the caller verifies the request signature first (`verify_request`) and decides
//! what an action does. Unknown shapes are errors, never guesses.

use serde::Deserialize;

/// One button click on a message muster posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAction {
    /// `ack`, `snooze`, `accept_request` or `not_mine` for muster's alert buttons.
    pub action_id: String,
    /// The button's value: the group key for muster's alert buttons.
    pub value: String,
    pub user_id: String,
    /// Slack's `username`, falling back to `name`, then to the user id.
    pub user_name: String,
    /// Channel id of the message the button is on.
    pub channel: String,
    /// `ts` of that message, to update it with `SlackChat::update`.
    pub message_ts: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackActionError {
    #[error(
        "no `payload` field in the request body: Slack interactivity posts application/x-www-form-urlencoded with payload=<JSON>"
    )]
    MissingPayload,
    #[error("the `payload` field is not a JSON object: {0}")]
    InvalidJson(String),
    #[error("interaction type {0:?} is not handled: only block_actions (message button clicks) are")]
    UnsupportedType(String),
    #[error("block_actions payload has no {0}: was the button on a message muster posted?")]
    MissingField(&'static str),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: Option<String>,
    user: Option<User>,
    #[serde(default)]
    actions: Vec<Action>,
    channel: Option<Channel>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct User {
    id: Option<String>,
    username: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    ts: Option<String>,
}

/// Reads the first action of a `block_actions` interactivity request body (the raw
/// form-encoded bytes Slack posted, after `verify_request` accepted them).
pub fn parse_action(payload_form_body: &[u8]) -> Result<SlackAction, SlackActionError> {
    let json = form_urlencoded::parse(payload_form_body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or(SlackActionError::MissingPayload)?;
    let payload: Payload = serde_json::from_str(&json).map_err(|e| SlackActionError::InvalidJson(e.to_string()))?;

    let kind = payload.kind.unwrap_or_default();
    if kind != "block_actions" {
        return Err(SlackActionError::UnsupportedType(kind));
    }
    let user = payload.user.ok_or(SlackActionError::MissingField("user"))?;
    let user_id = user.id.ok_or(SlackActionError::MissingField("user.id"))?;
    let user_name = user.username.or(user.name).unwrap_or_else(|| user_id.clone());
    let action = payload
        .actions
        .into_iter()
        .next()
        .ok_or(SlackActionError::MissingField("actions[0]"))?;
    Ok(SlackAction {
        action_id: action
            .action_id
            .ok_or(SlackActionError::MissingField("actions[0].action_id"))?,
        value: action.value.ok_or(SlackActionError::MissingField("actions[0].value"))?,
        user_id,
        user_name,
        channel: payload
            .channel
            .and_then(|c| c.id)
            .ok_or(SlackActionError::MissingField("channel.id"))?,
        message_ts: payload
            .message
            .and_then(|m| m.ts)
            .ok_or(SlackActionError::MissingField("message.ts"))?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form(payload: &serde_json::Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    /// Trimmed from a real block_actions payload.
    fn click() -> serde_json::Value {
        json!({
            "type": "block_actions",
            "team": {"id": "T0CAG", "domain": "acme"},
            "user": {"id": "U0CA5", "username": "amy.mcgee", "name": "amy.mcgee", "team_id": "T0CAG"},
            "api_app_id": "A0CA5",
            "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C0CA5"},
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "channel": {"id": "C0CA5", "name": "payments-alerts"},
            "message": {"type": "message", "ts": "1548261231.000200", "text": "P1 openssl"},
            "response_url": "https://hooks.slack.com/actions/T0CAG/123/abc",
            "actions": [{
                "action_id": "ack",
                "block_id": "muster_alert",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "value": "payments/img:1/pkg:openssl",
                "type": "button",
                "action_ts": "1548426417.840180"
            }]
        })
    }

    #[test]
    fn button_click_yields_action_user_channel_and_message() {
        let action = parse_action(&form(&click())).unwrap();
        assert_eq!(
            action,
            SlackAction {
                action_id: "ack".into(),
                value: "payments/img:1/pkg:openssl".into(),
                user_id: "U0CA5".into(),
                user_name: "amy.mcgee".into(),
                channel: "C0CA5".into(),
                message_ts: "1548261231.000200".into(),
            }
        );
    }

    #[test]
    fn payload_among_other_form_fields_is_found() {
        let mut body = b"foo=bar&".to_vec();
        body.extend(form(&click()));
        assert_eq!(parse_action(&body).unwrap().action_id, "ack");
    }

    #[test]
    fn user_name_falls_back_to_name_then_id() {
        let mut payload = click();
        payload["user"] = json!({"id": "U1", "name": "bob"});
        assert_eq!(parse_action(&form(&payload)).unwrap().user_name, "bob");
        payload["user"] = json!({"id": "U1"});
        assert_eq!(parse_action(&form(&payload)).unwrap().user_name, "U1");
    }

    #[test]
    fn body_without_payload_is_refused() {
        let error = parse_action(b"token=abc&type=block_actions").unwrap_err();
        assert_eq!(error, SlackActionError::MissingPayload);
        assert!(error.to_string().contains("payload=<JSON>"), "{error}");
        assert_eq!(parse_action(b"").unwrap_err(), SlackActionError::MissingPayload);
    }

    #[test]
    fn payload_that_is_not_json_is_refused() {
        let error = parse_action(b"payload=%7Bnot+json").unwrap_err();
        assert!(matches!(error, SlackActionError::InvalidJson(_)), "{error:?}");
    }

    #[test]
    fn other_interaction_types_are_refused_by_name() {
        let mut payload = click();
        payload["type"] = json!("view_submission");
        assert_eq!(
            parse_action(&form(&payload)).unwrap_err(),
            SlackActionError::UnsupportedType("view_submission".into())
        );
    }

    #[test]
    fn missing_pieces_are_named() {
        for (pointer, field) in [
            ("actions", "actions[0]"),
            ("channel", "channel.id"),
            ("message", "message.ts"),
            ("user", "user"),
        ] {
            let mut payload = click();
            payload.as_object_mut().unwrap().remove(pointer);
            assert_eq!(
                parse_action(&form(&payload)).unwrap_err(),
                SlackActionError::MissingField(field),
                "{pointer}"
            );
        }
        let mut payload = click();
        payload["actions"][0].as_object_mut().unwrap().remove("value");
        assert_eq!(
            parse_action(&form(&payload)).unwrap_err(),
            SlackActionError::MissingField("actions[0].value")
        );
    }
}
