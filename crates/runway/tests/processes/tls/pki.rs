//! Certificates made here by rcgen: a CA for servers, a CA for clients,
//! and a certificate of each.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA for servers, a CA for clients, and a certificate of each.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn authority(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn leaf(names: &[&str], issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "runway test");
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let (ca_params, ca_key, ca_pem) = authority("runway test server CA");
    let server_issuer = Issuer::new(ca_params, ca_key);
    let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], &server_issuer);
    let (client_ca_params, client_ca_key, client_ca_pem) = authority("runway test client CA");
    let client_issuer = Issuer::new(client_ca_params, client_ca_key);
    let (client_cert, client_key) = leaf(&["runner-1"], &client_issuer);
    Pki {
        ca: write("ca.pem", &ca_pem),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server-key.pem", &server_key),
        client_ca: write("client-ca.pem", &client_ca_pem),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client-key.pem", &client_key),
        _dir: dir,
    }
}

pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}
