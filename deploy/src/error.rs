//! The one error type of the library.
//!
//! `Display` strings are safe to log: they carry paths, lengths, offsets, labels and public
//! values (measurements, public keys), never private-key material.

use std::path::PathBuf;

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that must not exist yet (a key, a draft) is already there.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists { path: PathBuf },

    // ----- EIF ---------------------------------------------------------------------------
    /// The EIF is not well formed.
    #[error("EIF malformed at byte {offset}: {reason}")]
    EifMalformed { offset: u64, reason: &'static str },
    /// The EIF's CRC-32 does not match its content.
    #[error("EIF CRC mismatch: header says {expected:08x}, content gives {computed:08x}")]
    EifCrcMismatch { expected: u32, computed: u32 },
    /// The EIF signature section does not verify.
    #[error("EIF signature section invalid: {reason}")]
    EifSignatureInvalid { reason: &'static str },
    /// An input to `eif build` is unusable.
    #[error("EIF input refused: {reason}")]
    EifInput { reason: String },

    // ----- SEV-SNP -----------------------------------------------------------------------
    /// The launch digest could not be computed (bad OVMF, unknown vCPU type, ...).
    #[error("SEV-SNP launch measurement failed: {reason}")]
    SnpMeasurement { reason: String },

    // ----- keys and PEM ------------------------------------------------------------------
    /// A PEM file does not contain what it should.
    #[error("PEM malformed: {reason}")]
    PemMalformed { reason: &'static str },
    /// The release key file is not a PKCS#8 ed25519 private key.
    #[error("release key malformed: {reason}")]
    ReleaseKeyMalformed { reason: &'static str },
    /// The release key file can be read by someone other than its owner.
    #[error("{} is accessible by group or others (mode {mode:o}); chmod 600 it", path.display())]
    ReleaseKeyPermissions { path: PathBuf, mode: u32 },

    // ----- policy drafts -----------------------------------------------------------------
    /// A policy draft is not TOML of the expected shape.
    #[error("policy draft malformed: {reason}")]
    DraftMalformed { reason: String },
    /// A policy draft value is out of range or inconsistent.
    #[error("policy draft invalid: {reason}")]
    DraftInvalid { reason: String },
    /// The draft has no section for this platform (`policy new` decides which exist).
    #[error("the draft has no [{platform}] section; create it with `policy new`")]
    PlatformNotInDraft { platform: &'static str },
    /// The same measurement is already allowed.
    #[error("[{platform}] already allows this measurement")]
    DuplicateEntry { platform: &'static str },
    /// No allowed entry has this label.
    #[error("[{platform}] has no entry labelled {label:?}")]
    NoSuchEntry {
        platform: &'static str,
        label: String,
    },
    /// The attestation crate refused the policy (signature, envelope, body).
    #[error(transparent)]
    Policy(#[from] attestation::Error),

    // ----- launch configuration ----------------------------------------------------------
    /// A launch configuration is unsafe or inconsistent.
    #[error("launch configuration refused: {reason}")]
    LaunchRefused { reason: String },
}

impl DeployError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
