//! The error envelope's closed sets: its `type` and the `reason` that
//! names why.

closed_set! {
    /// The `error.type` of the REST error envelope.
    pub enum ApiErrorType {
        /// 400 (and 405, 431): the request is malformed.
        InvalidRequest = "invalid_request_error",
        /// 401: no valid token.
        Authentication = "authentication_error",
        /// 403: the token may not do this.
        Permission = "permission_error",
        /// 404: no such resource in the caller's organization.
        NotFound = "not_found_error",
        /// 409: the resource's state forbids the call.
        Conflict = "conflict_error",
        /// 429: too many requests.
        RateLimit = "rate_limit_error",
        /// 500, 504: the service failed.
        Api = "api_error",
        /// 501: not implemented.
        FeatureNotAvailable = "feature_not_available",
        /// 503: the service cannot answer now.
        Overloaded = "overloaded_error",
    }
}

closed_set! {
    /// `google.rpc.ErrorInfo.reason` of every runway error (domain `runway`):
    /// UPPER_SNAKE, stable, for clients to branch on.
    pub enum ErrorReason {
        /// No token, a malformed one, or one nobody issued.
        InvalidToken = "INVALID_TOKEN",
        /// A field is malformed (the field is in `BadRequest`).
        InvalidField = "INVALID_FIELD",
        /// The request is malformed as a whole.
        InvalidRequest = "INVALID_REQUEST",
        /// No such deployment in the caller's organization.
        DeploymentNotFound = "DEPLOYMENT_NOT_FOUND",
        /// No such run in the caller's organization.
        DeploymentRunNotFound = "DEPLOYMENT_RUN_NOT_FOUND",
        /// No such agent in the caller's organization.
        AgentNotFound = "AGENT_NOT_FOUND",
        /// The agent has no such version.
        AgentVersionNotFound = "AGENT_VERSION_NOT_FOUND",
        /// No such environment in the caller's organization.
        EnvironmentNotFound = "ENVIRONMENT_NOT_FOUND",
        /// No such session in the caller's organization.
        SessionNotFound = "SESSION_NOT_FOUND",
        /// No such event in the session (an `after_id` / `before_id`).
        SessionEventNotFound = "SESSION_EVENT_NOT_FOUND",
        /// A session of this kind does not take events of this type.
        SessionEventNotAccepted = "SESSION_EVENT_NOT_ACCEPTED",
        /// An interrupt of a session that is not working on a turn.
        SessionNotProcessing = "SESSION_NOT_PROCESSING",
        /// The deployment is archived.
        DeploymentArchived = "DEPLOYMENT_ARCHIVED",
        /// The deployment is paused.
        DeploymentPaused = "DEPLOYMENT_PAUSED",
        /// Pause of a paused deployment.
        DeploymentAlreadyPaused = "DEPLOYMENT_ALREADY_PAUSED",
        /// Unpause of a deployment that is not paused.
        DeploymentNotPaused = "DEPLOYMENT_NOT_PAUSED",
        /// Archive of an archived deployment.
        DeploymentAlreadyArchived = "DEPLOYMENT_ALREADY_ARCHIVED",
        /// The agent is archived.
        AgentArchived = "AGENT_ARCHIVED",
        /// Archive of an archived agent.
        AgentAlreadyArchived = "AGENT_ALREADY_ARCHIVED",
        /// The environment is archived.
        EnvironmentArchived = "ENVIRONMENT_ARCHIVED",
        /// Archive of an archived environment.
        EnvironmentAlreadyArchived = "ENVIRONMENT_ALREADY_ARCHIVED",
        /// No such webhook endpoint in the caller's organization.
        WebhookEndpointNotFound = "WEBHOOK_ENDPOINT_NOT_FOUND",
        /// No such webhook delivery in the caller's organization.
        WebhookDeliveryNotFound = "WEBHOOK_DELIVERY_NOT_FOUND",
        /// A webhook URL the service may not call (scheme, or a non-public address).
        WebhookUrlNotAllowed = "WEBHOOK_URL_NOT_ALLOWED",
        /// A test of a disabled endpoint.
        WebhookEndpointDisabled = "WEBHOOK_ENDPOINT_DISABLED",
        /// Redelivery of a delivery that is still being attempted.
        WebhookDeliveryPending = "WEBHOOK_DELIVERY_PENDING",
        /// A replayed creation of a webhook endpoint whose signing secret
        /// was rotated since (the secret is shown once).
        WebhookSecretRotated = "WEBHOOK_SECRET_ROTATED",
        /// Cancel of a run that already ended.
        RunAlreadyTerminal = "RUN_ALREADY_TERMINAL",
        /// A runner's call under a lease it no longer holds (metadata
        /// `status`, `error_type`: how the run ended, once it has).
        RunNotLeased = "RUN_NOT_LEASED",
        /// A request with the same `Idempotency-Key` is still in progress.
        IdempotencyKeyInFlight = "IDEMPOTENCY_KEY_IN_FLIGHT",
        /// The `Idempotency-Key` was used with a different request.
        IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED",
        /// The token made more requests than its rate limit allows; retry
        /// after the `RetryInfo` delay (REST: the `Retry-After` header).
        RateLimited = "RATE_LIMITED",
        /// The token's scope does not allow the call (PERMISSION_DENIED).
        ScopeInsufficient = "SCOPE_INSUFFICIENT",
        /// A runner token named an environment that is not on it
        /// (PERMISSION_DENIED).
        EnvironmentNotAllowed = "ENVIRONMENT_NOT_ALLOWED",
        /// No such token in the caller's organization.
        TokenNotFound = "TOKEN_NOT_FOUND",
        /// The token is revoked already.
        TokenAlreadyRevoked = "TOKEN_ALREADY_REVOKED",
        /// The server is stopping: a stream it ends says so; reconnect (to
        /// another replica, or once it is back).
        ShuttingDown = "SHUTTING_DOWN",
        /// The database did not answer this replica in time (UNAVAILABLE):
        /// retry, here or on another replica — a write with its
        /// `Idempotency-Key` (a connection lost at the commit may have
        /// committed it).
        DatabaseUnavailable = "DATABASE_UNAVAILABLE",
        /// A gRPC call reached the REST port (UNIMPLEMENTED): its client
        /// was given the REST address instead of the gRPC one.
        GrpcOnRestPort = "GRPC_ON_REST_PORT",
        /// A bug or an outage (details are logged, not returned).
        Internal = "INTERNAL",
    }
}
