//! The whole receive path of the channel's account (signal-client `decrypt_envelope`: the
//! Envelope, then libsignal's sealed-sender, PreKeySignalMessage, SignalMessage and
//! plaintext-content parsers, then the padded `Content`): whatever arrives, it answers with
//! a named error or a message and never panics. The fuzz input is wrapped in envelopes of
//! every type, from a plausible source, so the bytes reach libsignal's parsers.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use libsignal_protocol::{KeyPair, PublicKey, Timestamp};
use prost::Message;
use signal_client::{keys, Account};

const NOW_MS: u64 = 1_800_000_000_000;

/// One account (with its signed, last-resort and one-time keys) and a trust root, made
/// once; each run decrypts on a fresh copy so runs stay independent.
fn fixture() -> &'static (Vec<u8>, PublicKey) {
    static F: OnceLock<(Vec<u8>, PublicKey)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = rand_09::rng();
        let mut acct = Account::generate("+15550001234", &mut rng).expect("account");
        keys::install_initial_keys(
            &mut acct.store,
            Timestamp::from_epoch_millis(NOW_MS),
            &mut rng,
        )
        .expect("keys");
        for pk in keys::one_time_prekeys(1, 4, &mut rng) {
            acct.store.save_prekey(pk).expect("prekey");
        }
        let root = KeyPair::generate(&mut rng).public_key;
        (acct.encode().expect("encode").to_vec(), root)
    })
}

fuzz_target!(|data: &[u8]| {
    let (encoded, root) = fixture();
    // The raw bytes as an envelope, then wrapped as the content of each envelope type.
    let mut inputs = vec![data.to_vec()];
    for t in [1, 3, 6, 8, 7, 0] {
        let env = signal_api::Envelope {
            r#type: Some(t),
            source_service_id: (t != 6).then(|| "9d0652a3-dcc3-4d11-975f-74d61598733f".to_owned()),
            source_device: (t != 6).then_some(1),
            timestamp: Some(NOW_MS),
            content: Some(data.to_vec()),
            ..Default::default()
        };
        inputs.push(env.encode_to_vec());
    }
    for input in inputs {
        let mut acct = Account::decode(encoded).expect("fixture decodes");
        let _ = futures::executor::block_on(signal_client::service::decrypt_envelope(
            &mut acct, &input, root, NOW_MS,
        ));
    }
});
