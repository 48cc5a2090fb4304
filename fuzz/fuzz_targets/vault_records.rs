//! The vault's other parsers of untrusted bytes: key records (decode + unwrap under a fixed
//! SK), inbound queue items (under a fixed DK: raw bytes, and items sealed and authenticated
//! with the channel's inbound key around the input, then mutated at an input-chosen byte)
//! and E.164 phone numbers. None may panic. VAULT.md §3, §5, §6.
#![no_main]

use std::sync::OnceLock;

use enclave::vault::model::Phone;
use enclave::vault::{
    new_channel, open_inbound, seal_inbound, ChannelId, Dk, InboundAuthKey, KeyRecord, Sk,
    VaultError, MAX_INBOUND_PLAINTEXT_LEN,
};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn fixture() -> &'static (Sk, ChannelId, Dk) {
    static F: OnceLock<(Sk, ChannelId, Dk)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(2);
        let sk = Sk::from_bytes([9; 32]);
        let (id, _, dk) = new_channel(&sk, &mut rng);
        (sk, id, dk)
    })
}

fuzz_target!(|data: &[u8]| {
    let (sk, id, dk) = fixture();
    if let Ok(record) = KeyRecord::decode(data) {
        assert_eq!(record.encode(), data);
        let _ = record.unwrap(sk);
    }
    let _ = open_inbound(dk, id, data);
    if data.len() <= MAX_INBOUND_PLAINTEXT_LEN {
        // Round trip under the channel's own authentication key; any single flipped byte is
        // refused (the MAC covers the whole item, VAULT.md §6).
        let mut rng = StdRng::seed_from_u64(data.len() as u64);
        let auth = InboundAuthKey::derive(dk, id);
        let item = seal_inbound(dk.ek_public(), &auth, id, dk.key_epoch(), data, &mut rng)
            .expect("a plaintext within the bound seals");
        assert_eq!(open_inbound(dk, id, &item).expect("round trip")[..], *data);
        let at = data.first().map_or(0, |&b| usize::from(b)) % item.len();
        let mut bad = item;
        bad[at] ^= 0x01;
        assert!(matches!(
            open_inbound(dk, id, &bad),
            Err(VaultError::UnsupportedVersion { .. }
                | VaultError::KeyEpochMismatch { .. }
                | VaultError::Unauthenticated { .. })
        ));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = Phone::parse(s) {
            assert_eq!(p.to_e164_string().as_str(), s);
        }
    }
});
