//! The crate's one error type (for starting and running the server; per-request failures are
//! HTTP statuses, see SPEC §7). Never carries numbers, keys or message bytes.

/// Errors starting or running the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Binding, accepting or writing the trust-root files failed.
    #[error("i/o error while {during}: {source}")]
    Io {
        during: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Generating the CA or server certificate failed.
    #[error("certificate generation failed: {0}")]
    CertGen(#[from] rcgen::Error),
    /// Building the rustls configuration failed.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// libsignal refused to build a sealed-sender certificate.
    #[error("sealed-sender certificate error: {0}")]
    SenderCertificate(String),
    /// A configuration value is not one the sim accepts.
    #[error("bad configuration: {reason}")]
    Config { reason: &'static str },
}

impl SimError {
    pub(crate) fn io(during: &'static str) -> impl FnOnce(std::io::Error) -> SimError {
        move |source| SimError::Io { during, source }
    }
}
