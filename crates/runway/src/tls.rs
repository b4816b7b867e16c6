//! TLS from PEM files, with rustls and ring: what `serve` and `gateway`
//! listen with, what a runner, the gateway's gRPC client and the CLI trust,
//! and the rule that plaintext stays on loopback unless the operator says
//! `--insecure`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Makes ring the process's rustls provider (reqwest, built without one,
/// takes it from there). Calling it again does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How a server listens: TLS files, or plaintext (loopback only, unless
/// `--insecure`).
#[derive(Debug, Clone, Args)]
pub struct ListenTlsArgs {
    /// The server's certificate chain (PEM): what it serves is served over TLS.
    #[arg(long, env = "RUNWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "RUNWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plaintext on an address other than loopback (a warning is logged).
    #[arg(long, env = "RUNWAY_INSECURE")]
    pub insecure: bool,
}

impl ListenTlsArgs {
    /// The loaded TLS settings (with `client_ca` for mutual TLS on gRPC),
    /// if any; refuses plaintext on any of `addrs` that is not loopback
    /// unless `--insecure`.
    pub fn load(
        &self,
        addrs: &[SocketAddr],
        client_ca: Option<&Path>,
    ) -> anyhow::Result<Option<Arc<ServerTls>>> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(ServerTls::load(cert, key, client_ca)?)),
            (None, _) if client_ca.is_some() => {
                bail!("--tls-client-ca needs --tls-cert and --tls-key");
            }
            _ => None,
        };
        if tls.is_none() {
            let exposed: Vec<String> = addrs
                .iter()
                .filter(|a| !a.ip().is_loopback())
                .map(ToString::to_string)
                .collect();
            if !exposed.is_empty() && !self.insecure {
                bail!(
                    "refusing to serve plaintext on {}: pass --tls-cert and --tls-key, or --insecure",
                    exposed.join(", ")
                );
            }
            if !exposed.is_empty() {
                tracing::warn!(addrs = %exposed.join(", "), "serving plaintext on a non-loopback address (--insecure): tokens cross the network in the clear");
            }
        }
        Ok(tls)
    }
}

/// A server's certificate, key and (for mutual TLS) client CA, read and
/// checked once at start.
#[derive(Debug)]
pub struct ServerTls {
    grpc: Arc<rustls::ServerConfig>,
    rest: Arc<rustls::ServerConfig>,
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))
}

fn certificates(pem: &[u8], path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM certificates", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

impl ServerTls {
    /// Reads and checks the files (a key that does not match its
    /// certificate is refused here, not at the first handshake).
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<ServerTls> {
        let cert_pem = read(cert, "certificate")?;
        let key_pem = read(key, "private key")?;
        let chain = certificates(&cert_pem, cert)?;
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem)
            .with_context(|| format!("{} is not a PEM private key", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = || {
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .context("TLS protocol versions")
        };
        let fits = || format!("{} does not fit {}", key.display(), cert.display());
        let mut rest = versions()?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), private_key.clone_key())
            .with_context(fits)?;
        rest.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // gRPC: HTTP/2 only, and a client certificate the CA signed when
        // mutual TLS is on.
        let grpc = match client_ca {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in certificates(&read(path, "client CA")?, path)? {
                    roots
                        .add(ca)
                        .with_context(|| format!("{} is not a usable CA", path.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .with_context(|| format!("{} is not a usable client CA", path.display()))?;
                versions()?.with_client_cert_verifier(verifier)
            }
            None => versions()?.with_no_client_auth(),
        };
        let mut grpc = grpc
            .with_single_cert(chain, private_key)
            .with_context(fits)?;
        grpc.alpn_protocols = vec![b"h2".to_vec()];
        Ok(ServerTls {
            grpc: Arc::new(grpc),
            rest: Arc::new(rest),
        })
    }

    /// gRPC's settings: HTTP/2, and client certificates when mutual TLS is on.
    pub fn grpc(&self) -> Arc<rustls::ServerConfig> {
        self.grpc.clone()
    }

    /// REST's settings (no client certificates: people and browsers use
    /// tokens; mutual TLS is for gRPC).
    pub fn rest(&self) -> Arc<rustls::ServerConfig> {
        self.rest.clone()
    }
}

/// How a client trusts an `https://` gRPC server, and proves itself for
/// mutual TLS.
#[derive(Debug, Clone, Args)]
pub struct ClientTlsArgs {
    /// CA certificates (PEM) to trust for an https:// gRPC server (default:
    /// the public web's roots).
    #[arg(long, env = "RUNWAY_GRPC_CA")]
    pub ca: Option<PathBuf>,
    /// This client's certificate (PEM), for a server that requires mutual TLS.
    #[arg(long, env = "RUNWAY_GRPC_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM).
    #[arg(long, env = "RUNWAY_GRPC_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The TLS settings for calling `url`: `None` for `http://`.
    pub fn grpc(&self, url: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        if !url.starts_with("https://") {
            if self.ca.is_some() || self.client_cert.is_some() {
                bail!("--ca and --client-cert are for an https:// server, not {url}");
            }
            return Ok(None);
        }
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(path) => {
                let pem = read(path, "CA certificate")?;
                certificates(&pem, path)?;
                config.ca_certificate(Certificate::from_pem(pem))
            }
            None => config.with_webpki_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let cert = read(cert, "client certificate")?;
            let key = read(key, "client key")?;
            config = config.identity(Identity::from_pem(cert, key));
        }
        Ok(Some(config))
    }
}

/// A REST client (the CLI's) that trusts `ca` only, when given.
pub fn http_client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca {
        let pem = read(path, "CA certificate")?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not PEM certificates", path.display()))?;
        builder = builder.tls_certs_only(certs);
    }
    builder.build().context("building the HTTP client")
}
