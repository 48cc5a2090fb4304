//! The vault's other parsers of untrusted bytes: key records (decode + unwrap under a fixed
//! SK), inbound queue items (under a fixed DK) and E.164 phone numbers. None may panic.
//! VAULT.md §3, §5, §6.
#![no_main]

use std::sync::OnceLock;

use enclave::vault::model::Phone;
use enclave::vault::{new_channel, open_inbound, ChannelId, Dk, KeyRecord, Sk};
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
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = Phone::parse(s) {
            assert_eq!(p.to_e164_string().as_str(), s);
        }
    }
});
