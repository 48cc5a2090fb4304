//! Why a Signal or key-lifecycle route failed, and the coarse answer each failure gets
//! (SPEC §3.3, §3.5, §3.6). The detail goes to the log (never user data); the peer gets a code.

use hyper::{Response, StatusCode};
use serde_json::Value;

use crate::api::{error, json, Body};
use crate::blob_client::BlobError;
use crate::channel_api::channel_error;
use crate::channels::ChannelError;
use crate::courier::{chunks, CourierError};
use crate::vault::VaultError;

pub(crate) enum Failure {
    Channel(ChannelError),
    Courier(CourierError),
    /// Refusals specific to the key lifecycle (VAULT.md §11–§15).
    Lifecycle(VaultError),
}

impl From<ChannelError> for Failure {
    fn from(e: ChannelError) -> Self {
        Failure::Channel(e)
    }
}
impl From<CourierError> for Failure {
    fn from(e: CourierError) -> Self {
        Failure::Courier(e)
    }
}
impl From<chunks::ChunkError> for Failure {
    fn from(e: chunks::ChunkError) -> Self {
        Failure::Courier(e.into())
    }
}
impl From<BlobError> for Failure {
    fn from(e: BlobError) -> Self {
        Failure::Channel(e.into())
    }
}
impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::UnknownKey
            | VaultError::RevokedKey
            | VaultError::InvalidOtp
            | VaultError::OtpUnknown
            | VaultError::OtpExpired
            | VaultError::OtpUsed
            | VaultError::UnknownProposal { .. }
            | VaultError::AlreadyVoted { .. }
            | VaultError::Refused { .. } => Failure::Lifecycle(e),
            other => Failure::Channel(other.into()),
        }
    }
}

fn courier_error(e: &CourierError) -> Response<Body> {
    tracing::warn!(error = %e, "signal operation refused");
    match e {
        CourierError::NotConfigured => error(StatusCode::SERVICE_UNAVAILABLE, "signal_unavailable"),
        CourierError::NoAccount => error(StatusCode::CONFLICT, "no_signal_account"),
        CourierError::AlreadyRegistered => error(StatusCode::CONFLICT, "already_registered"),
        CourierError::Signal(_) => error(StatusCode::BAD_GATEWAY, "signal_failed"),
        // The host lost, replaced or rolled back a chunk of the account record.
        CourierError::Chunk(
            chunks::ChunkError::Missing { .. }
            | chunks::ChunkError::Digest { .. }
            | chunks::ChunkError::Corrupt { .. }
            | chunks::ChunkError::Table(_),
        ) => error(StatusCode::BAD_GATEWAY, "integrity_failure"),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

fn lifecycle_error(e: &VaultError) -> Response<Body> {
    tracing::warn!(error = %e, "key lifecycle operation refused");
    match e {
        VaultError::UnknownKey => error(StatusCode::UNAUTHORIZED, "unauthorized"),
        VaultError::RevokedKey => error(StatusCode::FORBIDDEN, "key_revoked"),
        VaultError::InvalidOtp => error(StatusCode::BAD_REQUEST, "bad_request"),
        VaultError::OtpUnknown => error(StatusCode::FORBIDDEN, "otp_invalid"),
        VaultError::OtpExpired => error(StatusCode::GONE, "otp_expired"),
        VaultError::OtpUsed => error(StatusCode::CONFLICT, "otp_used"),
        VaultError::UnknownProposal { .. } => error(StatusCode::NOT_FOUND, "unknown_proposal"),
        VaultError::AlreadyVoted { .. } => error(StatusCode::CONFLICT, "already_voted"),
        _ => error(StatusCode::CONFLICT, "refused"),
    }
}

/// The answer: 200 with the JSON, or the failure's code.
pub(crate) fn respond(r: Result<Value, Failure>) -> Response<Body> {
    match r {
        Ok(mut v) => {
            let r = json(StatusCode::OK, &v);
            crate::api::wipe(&mut v);
            r
        }
        Err(Failure::Channel(e)) => channel_error(&e),
        Err(Failure::Courier(e)) => courier_error(&e),
        Err(Failure::Lifecycle(e)) => lifecycle_error(&e),
    }
}
