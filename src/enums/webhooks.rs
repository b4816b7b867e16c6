//! The closed sets of webhook endpoints, events and deliveries.

closed_set! {
    /// What a webhook tells: the `type` of its event, and what an endpoint
    /// subscribes to.
    pub enum WebhookEventType: proto WebhookEventType {
        /// Every type (a subscription only; no event has it).
        All = "*",
        /// A run started: its session opened and runners may claim it.
        DeploymentRunStarted = "deployment_run.started",
        /// A run completed.
        DeploymentRunCompleted = "deployment_run.completed",
        /// A run failed (a retry, if any, is its own run).
        DeploymentRunFailed = "deployment_run.failed",
        /// A run was recorded `skipped`, or scheduled instants were missed.
        DeploymentRunSkipped = "deployment_run.skipped",
        /// A deployment was paused (by a user, or after consecutive failures).
        DeploymentPaused = "deployment.paused",
        /// A deployment was unpaused.
        DeploymentUnpaused = "deployment.unpaused",
        /// A deployment was archived.
        DeploymentArchived = "deployment.archived",
        /// An endpoint was disabled after failing for too long.
        WebhookEndpointDisabled = "webhook_endpoint.disabled",
        /// A test event (`POST /webhooks/endpoints/{id}/test`), sent only to that endpoint.
        WebhookTest = "webhook.test",
    }
}

closed_set! {
    /// Where a webhook delivery is.
    pub enum WebhookDeliveryStatus: proto WebhookDeliveryStatus {
        /// Not yet answered with a 2xx, and attempts are left.
        Pending = "pending",
        /// An attempt was answered with a 2xx.
        Succeeded = "succeeded",
        /// Every attempt failed.
        Failed = "failed",
    }
}

closed_set! {
    /// Why a webhook endpoint is disabled.
    pub enum WebhookDisabledReason: proto WebhookDisabledReason {
        /// A user set `enabled` to false.
        Manual = "manual",
        /// Its deliveries failed for longer than the service allows.
        Failing = "failing",
    }
}
