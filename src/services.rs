//! The services an adapter (the REST gateway, the console) calls, as the
//! server traits themselves: the server's own implementations when it runs
//! in this process — a call is a function call, with no proto encoding and
//! no gRPC framing — or each client over a transport when it runs
//! elsewhere. Either way a call takes and gives the contract's messages and
//! `tonic::Status`, and carries its metadata (the caller's token) to the
//! same checks.

use std::pin::Pin;
use std::sync::Arc;

use tonic::codegen::tokio_stream::Stream;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::transport::GrpcTransport;
use crate::v1::agent_service_client::AgentServiceClient;
use crate::v1::deployment_service_client::DeploymentServiceClient;
use crate::v1::environment_service_client::EnvironmentServiceClient;
use crate::v1::retention_service_client::RetentionServiceClient;
use crate::v1::session_service_client::SessionServiceClient;
use crate::v1::token_service_client::TokenServiceClient;
use crate::v1::webhook_service_client::WebhookServiceClient;

include!(concat!(env!("OUT_DIR"), "/runway.v1.remote.rs"));

/// The largest message a service or a client encodes or decodes: twice the
/// REST body limit, since the proto form of a JSON body can be larger.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A server-streaming response, boxed so that one trait object type serves
/// both the server's own stream and a client's.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send + 'static>>;

/// gRPC health, its watch stream boxed.
pub type DynHealth = dyn Health<WatchStream = ServerStream<HealthCheckResponse>>;

/// Every service an adapter calls. (A service added to the proto gets its
/// `Dyn…` alias and `Remote` impl from build.rs; to reach the adapters it
/// also needs a field here, in `remote` and in the server's `services()`.)
#[derive(Clone)]
pub struct Services {
    pub deployments: Arc<DynDeploymentService>,
    pub agents: Arc<DynAgentService>,
    pub environments: Arc<DynEnvironmentService>,
    pub sessions: Arc<DynSessionService>,
    pub webhooks: Arc<DynWebhookService>,
    pub tokens: Arc<DynTokenService>,
    pub retention: Arc<DynRetentionService>,
    pub health: Arc<DynHealth>,
}

impl Services {
    /// The services of a server across `transport`.
    pub fn remote(transport: GrpcTransport) -> Self {
        let t = || transport.clone();
        Services {
            deployments: Arc::new(Remote(
                DeploymentServiceClient::new(t()).with_message_limits(),
            )),
            agents: Arc::new(Remote(AgentServiceClient::new(t()).with_message_limits())),
            environments: Arc::new(Remote(
                EnvironmentServiceClient::new(t()).with_message_limits(),
            )),
            sessions: Arc::new(Remote(SessionServiceClient::new(t()).with_message_limits())),
            webhooks: Arc::new(Remote(WebhookServiceClient::new(t()).with_message_limits())),
            tokens: Arc::new(Remote(TokenServiceClient::new(t()).with_message_limits())),
            retention: Arc::new(Remote(
                RetentionServiceClient::new(t()).with_message_limits(),
            )),
            health: Arc::new(Remote(HealthClient::new(t()))),
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// A generated client, calling its service over a transport.
#[derive(Debug, Clone)]
pub struct Remote<C>(pub C);

impl<C: Clone> Remote<C> {
    /// A client of its own for one call (the generated methods take
    /// `&mut self`; a clone shares the transport).
    fn client(&self) -> C {
        self.0.clone()
    }
}

/// A generated client whose message limits can be raised to
/// [`MAX_MESSAGE_BYTES`].
trait MessageLimits {
    fn with_message_limits(self) -> Self;
}

macro_rules! message_limits {
    ($($client:ident),* $(,)?) => {$(
        impl MessageLimits for $client<GrpcTransport> {
            fn with_message_limits(self) -> Self {
                self.max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
            }
        }
    )*};
}

message_limits!(
    DeploymentServiceClient,
    AgentServiceClient,
    EnvironmentServiceClient,
    SessionServiceClient,
    WebhookServiceClient,
    TokenServiceClient,
    RetentionServiceClient,
);

#[tonic::async_trait]
impl Health for Remote<HealthClient<GrpcTransport>> {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        self.client().check(request).await
    }

    type WatchStream = ServerStream<HealthCheckResponse>;

    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        let response = self.client().watch(request).await?;
        Ok(response.map(|stream| Box::pin(stream) as Self::WatchStream))
    }
}

/// A health service whose watch stream is boxed (tonic-health's own names
/// a type of its own).
pub struct BoxedHealth<H>(pub H);

#[tonic::async_trait]
impl<H: Health> Health for BoxedHealth<H> {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        self.0.check(request).await
    }

    type WatchStream = ServerStream<HealthCheckResponse>;

    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        let response = self.0.watch(request).await?;
        Ok(response.map(|stream| Box::pin(stream) as Self::WatchStream))
    }
}
