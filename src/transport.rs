//! One client transport for every caller of the contract over gRPC: an
//! HTTP/2 channel (plaintext or TLS) or the server's own routes in-process
//! (no network hop, but every call still goes through the proto). The
//! embedded runner of `runway serve` calls in-process; a standalone runner
//! or gateway over a channel. (The gateway and console of `runway serve`
//! call the services themselves: `crate::services`.)

use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

/// Any gRPC transport: an HTTP/2 channel or an in-process service.
pub type GrpcTransport = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// A transport failure. A concrete type (not a boxed `dyn Error`) so the
/// generated clients' `Into<StdError>` bound holds for every lifetime.
#[derive(Debug)]
pub struct TransportError(tonic::codegen::StdError);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Wraps the server's in-process routes as a transport.
pub fn in_process(routes: tonic::service::Routes) -> GrpcTransport {
    BoxCloneSyncService::new(
        routes
            .map_request(|r: http::Request<tonic::body::Body>| r)
            .map_err(|never: std::convert::Infallible| match never {}),
    )
}

/// Wraps a network channel as a transport.
pub fn over_channel(channel: tonic::transport::Channel) -> GrpcTransport {
    BoxCloneSyncService::new(channel.map_err(|e| TransportError(e.into())))
}
