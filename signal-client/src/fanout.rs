//! The CPU half of sending: encrypt one padded `Content` for every device of every
//! recipient and build each recipient's `IncomingMessageList` body. Kept apart from the
//! network half so the fan-out benchmark measures exactly this path.

use std::time::SystemTime;

use libsignal_protocol::{Aci, ProtocolAddress, SenderCertificate};
use rand::{CryptoRng, Rng};

use crate::cipher::{self, OutgoingMessage};
use crate::error::Result;
use crate::store::ProtocolStore;

/// One recipient's request body, ready for `PUT /v1/messages/{aci}`.
#[derive(Debug)]
pub struct Prepared {
    /// The recipient.
    pub to: Aci,
    /// Whether the ciphertexts are sealed sender.
    pub sealed: bool,
    /// Number of devices encrypted for.
    pub devices: usize,
    /// The JSON `IncomingMessageList`.
    pub body: Vec<u8>,
}

/// Encrypts `padded` for every device we hold a session with for `to`, sealed when `cert`
/// is given, and serializes the message list.
pub async fn prepare_one<R: Rng + CryptoRng>(
    store: &mut ProtocolStore,
    to: &Aci,
    padded: &[u8],
    cert: Option<&SenderCertificate>,
    timestamp: u64,
    now: SystemTime,
    rng: &mut R,
) -> Result<Prepared> {
    let name = to.service_id_string();
    let devices = store.session_devices(&name);
    let mut msgs = Vec::with_capacity(devices.len());
    for d in devices {
        let addr = ProtocolAddress::new(name.clone(), d);
        msgs.push(cipher::encrypt(store, &addr, padded, cert, now, rng).await?);
    }
    let devices = msgs.len();
    Ok(Prepared {
        to: *to,
        sealed: cert.is_some(),
        devices,
        body: message_list_json(msgs, timestamp),
    })
}

/// The `IncomingMessageList` JSON for one recipient's device ciphertexts
/// (`{"messages":[{"type","destinationDeviceId","destinationRegistrationId","content"}],
/// "online","urgent","timestamp"}`, content in padded standard base64).
///
/// Written directly rather than through serde: every value is a number or base64 (which
/// needs no escaping), and this is the hot loop of a broadcast. `tests/fanout.rs` checks
/// it against signal-api's serde type.
pub fn message_list_json(msgs: Vec<OutgoingMessage>, timestamp: u64) -> Vec<u8> {
    use std::io::Write as _;
    let b64_len: usize = msgs.iter().map(|m| m.content.len().div_ceil(3) * 4).sum();
    let mut out = Vec::with_capacity(b64_len + 128 * msgs.len() + 64);
    out.extend_from_slice(b"{\"messages\":[");
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{{\"type\":{},\"destinationDeviceId\":{},\"destinationRegistrationId\":{},\"content\":\"",
            u32::try_from(m.envelope_type).unwrap_or(0),
            u32::from(m.destination_device_id),
            m.destination_registration_id
        );
        let start = out.len();
        out.resize(start + m.content.len().div_ceil(3) * 4, 0);
        let n = base64::Engine::encode_slice(
            &base64::engine::general_purpose::STANDARD,
            &m.content,
            &mut out[start..],
        )
        .expect("invariant: buffer sized for padded base64");
        out.truncate(start + n);
        out.extend_from_slice(b"\"}");
    }
    let _ = write!(
        out,
        "],\"online\":false,\"urgent\":true,\"timestamp\":{timestamp}}}"
    );
    out
}
