//! The crate's one error type. Every variant is safe to log: no phone number, message
//! body, key or blob content is ever placed in one (STYLE §6).

use libsignal_protocol::SignalProtocolError;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An encoded store/account ended before a field was complete.
    #[error("encoded {what} is truncated")]
    Truncated { what: &'static str },
    /// A length or count in encoded input exceeds its named bound.
    #[error("{what} is too large: {len} > {max}")]
    TooLarge {
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// Bytes remained after a complete encoding.
    #[error("{count} trailing bytes after the encoding")]
    TrailingBytes { count: usize },
    /// The encoding does not start with the expected magic.
    #[error("not a {what} encoding (bad magic)")]
    BadMagic { what: &'static str },
    /// The encoding's version is not one this build reads.
    #[error("unsupported {what} encoding version {version}")]
    UnsupportedVersion { what: &'static str, version: u8 },
    /// A field decoded but its content is invalid (a record libsignal refused, a bad flag…).
    #[error("invalid {what} in encoding")]
    Corrupt { what: &'static str },
    /// The same key appeared twice in a map.
    #[error("duplicate {what} in encoding")]
    Duplicate { what: &'static str },
    /// libsignal refused an operation. Only the error's kind is kept: libsignal's own
    /// messages can carry addresses.
    #[error("signal protocol error: {kind}")]
    Protocol { kind: &'static str },
    /// A sealed-sender message's certificate did not chain to the configured trust root,
    /// or had expired.
    #[error("sealed sender certificate is not valid under the trust root")]
    SenderCertificateInvalid,
    /// A message whose sender is known (the envelope or the opened sealed-sender layer
    /// named them) did not decrypt in a way a resend on a fresh session can mend (no
    /// session, a diverged one, a used prekey). `retry` holds what
    /// [`crate::SignalClient::send_retry_receipt`] needs; the `Display` shows only `kind`.
    #[error("message did not decrypt ({kind}); the sender can be asked to resend it")]
    DecryptionFailed {
        kind: &'static str,
        retry: Box<crate::cipher::RetryRequest>,
    },
    /// An envelope could not be decoded or had an unsupported shape.
    #[error("bad envelope: {reason}")]
    BadEnvelope { reason: &'static str },
    /// Decrypted content was not validly padded or did not decode.
    #[error("bad content: {reason}")]
    BadContent { reason: &'static str },
    /// Decrypted content decoded but breaks one of signal-api's limits (too long a body,
    /// too many attachments, …); `what` names the field.
    #[error("content over its limit: {what}")]
    ContentOverLimit { what: &'static str },
    /// A service id string was not a valid ACI/PNI.
    #[error("invalid service id")]
    InvalidServiceId,
    /// A device id outside 1..=127.
    #[error("invalid device id")]
    InvalidDeviceId,
    /// The service answered with an HTTP status this operation does not accept.
    #[error("{operation}: service answered HTTP {status}")]
    Status {
        operation: &'static str,
        status: u16,
    },
    /// The service's answer body did not parse.
    #[error("{operation}: malformed response body")]
    BadResponse { operation: &'static str },
    /// The recipient is not registered (404 on send).
    #[error("recipient is not registered")]
    Unregistered,
    /// Rate limited (429, or 413 with `Retry-After`) too many times in a row; gave up.
    #[error("{operation}: gave up after {attempts} attempts (rate limited)")]
    RateLimited {
        operation: &'static str,
        attempts: u32,
    },
    /// The service refused the request as too large (413 without `Retry-After`); sending
    /// the same request again cannot succeed, so it is not retried (SPEC §4).
    #[error("{operation}: the service refused the request as too large")]
    PayloadTooLarge { operation: &'static str },
    /// Mismatched/stale devices did not converge within the attempt budget.
    #[error("device list did not converge after {attempts} attempts")]
    DevicesDidNotConverge { attempts: u32 },
    /// TLS configuration failed (bad pinned root, bad server name).
    #[error("tls configuration: {reason}")]
    TlsConfig { reason: &'static str },
    /// Network I/O failed.
    #[error("i/o during {operation}: {kind}")]
    Io {
        operation: &'static str,
        kind: std::io::ErrorKind,
    },
    /// HTTP framing failed (hyper).
    #[error("http during {operation}")]
    Http { operation: &'static str },
    /// The WebSocket failed or closed.
    #[error("websocket: {reason}")]
    WebSocket { reason: &'static str },
    /// The service closed the WebSocket with 4409: another connection for the same
    /// account and device took over (SPEC §5). Reconnecting at once only knocks that one
    /// off in turn; callers back off.
    #[error("websocket: connected elsewhere (4409)")]
    ConnectedElsewhere,
    /// A keepalive went unanswered for `ws::KEEPALIVE_TIMEOUT` with nothing else heard:
    /// the connection is taken as half-open and dropped (SPEC §5).
    #[error("websocket: no answer to keepalive; connection dropped")]
    KeepaliveTimeout,
    /// Attachment crypto failed (bad MAC, bad digest, bad padding, too large).
    #[error("attachment: {reason}")]
    Attachment { reason: &'static str },
    /// A timeout elapsed.
    #[error("timed out during {operation}")]
    Timeout { operation: &'static str },
    /// The recipient is *strict* (see `ProtocolStore::set_strict`) and the service offered
    /// an identity key other than the one on record (a changed safety number), or a session
    /// was built on one: nothing was encrypted to it and nothing was sent (SPEC.md §4.1).
    #[error("the recipient's identity key changed and is not trusted")]
    UntrustedIdentity,
    /// A staged message cannot be sent as staged (the service refused its sealed-sender
    /// access key): sending it differently needs a new encryption on a committed session,
    /// which the caller stages and commits first (SPEC.md §4.2).
    #[error("{operation}: the staged message must be encrypted again")]
    NeedsRestage { operation: &'static str },
}

impl From<SignalProtocolError> for Error {
    fn from(e: SignalProtocolError) -> Self {
        match e {
            SignalProtocolError::UntrustedIdentity(_) => Error::UntrustedIdentity,
            e => Error::Protocol {
                kind: protocol_kind(&e),
            },
        }
    }
}

/// The [`Error::Protocol`] kind of a message decrypted before (libsignal's
/// `DuplicatedMessage`): a redelivered envelope, not a bad one.
pub const DUPLICATED_MESSAGE: &str = "duplicated message";

/// A log-safe name for a libsignal error (its `Display` may contain addresses).
pub(crate) fn protocol_kind(e: &SignalProtocolError) -> &'static str {
    use SignalProtocolError as E;
    match e {
        E::InvalidArgument(_) => "invalid argument",
        E::InvalidState(..) => "invalid state",
        E::InvalidProtobufEncoding => "invalid protobuf encoding",
        E::CiphertextMessageTooShort(_) => "ciphertext too short",
        E::LegacyCiphertextVersion(_) => "legacy ciphertext version",
        E::UnrecognizedCiphertextVersion(_) => "unrecognized ciphertext version",
        E::UnrecognizedMessageVersion(_) => "unrecognized message version",
        E::SignatureValidationFailed => "signature validation failed",
        E::UntrustedIdentity(_) => "untrusted identity",
        E::InvalidPreKeyId => "invalid prekey id",
        E::InvalidSignedPreKeyId => "invalid signed prekey id",
        E::InvalidKyberPreKeyId => "invalid kyber prekey id",
        E::SessionNotFound(_) => "session not found",
        E::InvalidSessionStructure(_) => "invalid session structure",
        E::InvalidRegistrationId(..) => "invalid registration id",
        E::DuplicatedMessage(..) => DUPLICATED_MESSAGE,
        E::InvalidMessage(..) => "invalid message",
        E::InvalidSealedSenderMessage(_) => "invalid sealed sender message",
        E::UnknownSealedSenderVersion(_) => "unknown sealed sender version",
        E::SealedSenderSelfSend => "sealed sender self send",
        E::UnknownSealedSenderServerCertificateId(_) => "unknown server certificate id",
        E::NoKeyTypeIdentifier | E::BadKeyType(_) | E::BadKeyLength(..) => "bad key",
        E::BadKEMKeyType(_)
        | E::WrongKEMKeyType(..)
        | E::BadKEMKeyLength(..)
        | E::BadKEMCiphertextLength(..) => "bad kem key",
        _ => "other",
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
