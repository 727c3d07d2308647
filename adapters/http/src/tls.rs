//! The TLS client configuration of a [`Transport`](crate::Transport): rustls
//! with the `ring` provider (the one crypto provider of the workspace), and
//! trust in either the CA certificates of an operator's PEM file or, without
//! one, the Mozilla roots of `webpki-roots`.

use std::fmt;
use std::path::Path;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject};

/// Which certificate authorities a [`Transport`](crate::Transport) trusts for
/// `https` endpoints.
#[derive(Clone, Copy, Debug, Default)]
pub enum Trust<'a> {
    /// The Mozilla root programme's CAs (`webpki-roots`).
    #[default]
    WebpkiRoots,
    /// Only the CA certificates of this PEM file.
    CaFile(&'a Path),
}

impl<'a> Trust<'a> {
    /// [`Trust::CaFile`] when a file is configured, [`Trust::WebpkiRoots`]
    /// otherwise.
    pub fn from_ca_file(ca_file: Option<&'a Path>) -> Self {
        ca_file.map_or(Trust::WebpkiRoots, Trust::CaFile)
    }
}

/// Why a CA file was refused. Displayed as `ca_file: reason`
/// ([`CaFileError::FIELD`], [`CaFileError::reason`]).
#[derive(Debug)]
pub enum CaFileError {
    /// The file could not be read.
    Read(std::io::Error),
    /// The file is not valid PEM.
    Pem(pem::Error),
    /// The file holds no `CERTIFICATE` block.
    Empty,
    /// A certificate is not a usable trust anchor.
    Certificate(rustls::Error),
}

impl CaFileError {
    /// The name of the setting every adapter reads a CA file from.
    pub const FIELD: &'static str = "ca_file";
    /// [`CaFileError::reason`] of [`CaFileError::Read`].
    pub const READ: &'static str = "cannot be read";
    /// [`CaFileError::reason`] of [`CaFileError::Pem`].
    pub const PEM: &'static str = "is not a valid PEM file";
    /// [`CaFileError::reason`] of [`CaFileError::Empty`].
    pub const EMPTY: &'static str = "holds no PEM certificate";
    /// [`CaFileError::reason`] of [`CaFileError::Certificate`].
    pub const CERTIFICATE: &'static str = "holds a certificate that is not a valid CA";

    /// What is wrong with the CA file, without the setting's name.
    pub fn reason(&self) -> &'static str {
        match self {
            CaFileError::Read(_) => Self::READ,
            CaFileError::Pem(_) => Self::PEM,
            CaFileError::Empty => Self::EMPTY,
            CaFileError::Certificate(_) => Self::CERTIFICATE,
        }
    }
}

impl fmt::Display for CaFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", Self::FIELD, self.reason())
    }
}

impl std::error::Error for CaFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaFileError::Read(e) => Some(e),
            CaFileError::Pem(e) => Some(e),
            CaFileError::Certificate(e) => Some(e),
            CaFileError::Empty => None,
        }
    }
}

/// The Mozilla root programme's CAs.
pub(crate) fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The root store of `trust`.
pub(crate) fn roots(trust: Trust<'_>) -> Result<RootCertStore, CaFileError> {
    match trust {
        Trust::WebpkiRoots => Ok(webpki_roots()),
        Trust::CaFile(path) => {
            // Read first, so a missing file is a read error and not PEM's.
            let pem = std::fs::read(path).map_err(CaFileError::Read)?;
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(CaFileError::Pem)?;
                store.add(cert).map_err(CaFileError::Certificate)?;
            }
            if store.is_empty() {
                return Err(CaFileError::Empty);
            }
            Ok(store)
        }
    }
}

/// A rustls client configuration over the process's crypto provider (ring,
/// installed here when nobody did first) trusting `roots`. No ALPN here: the
/// connector offers `http/1.1` itself.
pub(crate) fn client_config(roots: RootCertStore) -> ClientConfig {
    // The hub installs ring at start; whoever comes first wins, and ring is
    // the only provider compiled in, so "already installed" is no concern.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}
