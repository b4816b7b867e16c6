//! The checks a webhook endpoint's fields pass on create and update.

use runway_api::enums::WebhookEventType;

use crate::error::{Reason, ServiceError, ServiceResult};
use crate::webhooks::address::UrlPolicy;

/// The most event types an endpoint lists.
const MAX_EVENT_TYPES: usize = 10;

/// The longest URL accepted.
const MAX_URL_CHARS: usize = 2048;

/// A URL the server may send to: its form, then (unless private targets
/// are allowed) every address its host resolves to.
pub(super) async fn url(policy: &UrlPolicy, url: &str) -> ServiceResult<String> {
    if url.is_empty() {
        return Err(ServiceError::invalid(
            "url",
            "url is required: the https URL to send events to",
        ));
    }
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ServiceError::invalid(
            "url",
            format!("url must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    match policy.check(url).await {
        Ok(_) => Ok(url.to_string()),
        Err(refusal) => Err(ServiceError::InvalidArgument {
            param: Some("url".into()),
            reason: Reason::WebhookUrlNotAllowed,
            message: refusal.to_string(),
        }),
    }
}

/// Whether two subscriptions (each without repeats) name the same types.
pub(super) fn same_types(a: &[WebhookEventType], b: &[WebhookEventType]) -> bool {
    a.len() == b.len() && a.iter().all(|t| b.contains(t))
}

/// The subscription: 1–10 known types, no repeats; `*` only alone;
/// `webhook.test` is sent on request, never subscribed to.
pub(super) fn event_types(given: &[i32]) -> ServiceResult<Vec<WebhookEventType>> {
    let param = "event_types";
    if given.is_empty() || given.len() > MAX_EVENT_TYPES {
        return Err(ServiceError::invalid(
            param,
            format!("event_types must list 1 to {MAX_EVENT_TYPES} event types"),
        ));
    }
    let mut types = Vec::with_capacity(given.len());
    for (i, number) in given.iter().enumerate() {
        let kind = WebhookEventType::from_proto(*number)
            .filter(|k| *k != WebhookEventType::WebhookTest)
            .ok_or_else(|| {
                ServiceError::invalid(
                    format!("{param}[{i}]"),
                    "event_types must be event types a webhook tells (or *)",
                )
            })?;
        if types.contains(&kind) {
            return Err(ServiceError::invalid(
                format!("{param}[{i}]"),
                format!("{} is listed twice", kind.name()),
            ));
        }
        types.push(kind);
    }
    if types.len() > 1 && types.contains(&WebhookEventType::All) {
        return Err(ServiceError::invalid(
            param,
            "* means every type and must be listed alone",
        ));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use WebhookEventType::{DeploymentPaused, DeploymentRunFailed, DeploymentRunStarted};

    #[test]
    fn subscriptions_compare_as_sets() {
        let given = [DeploymentRunFailed, DeploymentPaused];
        assert!(same_types(&given, &[DeploymentPaused, DeploymentRunFailed]));
        assert!(same_types(&given, &given));
        assert!(!same_types(&given, &[DeploymentRunFailed]));
        assert!(!same_types(
            &given,
            &[DeploymentRunFailed, DeploymentRunStarted]
        ));
        assert!(!same_types(
            &given,
            &[DeploymentRunFailed, DeploymentPaused, DeploymentRunStarted]
        ));
    }
}
