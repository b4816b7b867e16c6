//! runway's gRPC server: `DeploymentService`, `AgentService` and
//! `EnvironmentService` over runway-store, with authentication, validation,
//! idempotency and the trigger rules.

pub mod auth;
pub mod clock;
pub mod convert;
pub mod error;
pub mod idempotency;
pub mod paging;
pub mod schedule;
pub mod scheduler;
pub mod services;
pub mod validate;

use std::net::SocketAddr;

use runway_api::v1::agent_service_server::AgentServiceServer;
use runway_api::v1::deployment_service_server::DeploymentServiceServer;
use runway_api::v1::environment_service_server::EnvironmentServiceServer;
use runway_store::Store;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::{ServiceError, ServiceResult};
pub use scheduler::Scheduler;
use services::{AgentApi, Core, DeploymentApi, EnvironmentApi};

/// Every runway gRPC service over `store`, ready to serve on a socket or to
/// be called in-process (the gateway does that inside `runway serve`).
/// `clock` is the services' "now" (schedules, trigger instants).
pub fn routes(store: Store, clock: SharedClock) -> Routes {
    let core = Core::new(store, clock);
    Routes::new(DeploymentServiceServer::new(DeploymentApi::new(
        core.clone(),
    )))
    .add_service(AgentServiceServer::new(AgentApi::new(core.clone())))
    .add_service(EnvironmentServiceServer::new(EnvironmentApi::new(core)))
}

/// Serves `routes` on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "gRPC listening");
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
