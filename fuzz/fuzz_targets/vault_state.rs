//! The vault's state path: the channel model codec (must be canonical: whatever decodes
//! re-encodes to the same bytes) and the sealed-state envelope under a fixed DK. Neither
//! may panic. VAULT.md §4–§5. Also the admin-keys section and the admin proof check
//! (VAULT.md §20): every decoded key belongs to a current admin, and checking any bytes as
//! a proof never panics.
#![no_main]

use std::sync::OnceLock;

use enclave::vault::model::ChannelState;
use enclave::vault::{new_channel, open_state, ChannelId, Dk, Sk};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn fixture() -> &'static (ChannelId, Dk) {
    static F: OnceLock<(ChannelId, Dk)> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(1);
        let (id, _, dk) = new_channel(&Sk::from_bytes([7; 32]), &mut rng);
        (id, dk)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = ChannelState::decode(data) {
        assert_eq!(&state.encode()[..], data);
        assert_eq!(state.encoded_len(), data.len());
        for k in state.admin_keys() {
            assert!(state
                .admins()
                .any(|m| m.admin_index() == Some(k.admin_index())));
        }
        let (id, _) = fixture();
        let binding = &data[..data.len().min(32)];
        let proof = &data[data.len().saturating_sub(64)..];
        for m in state.admins() {
            let _ = state.authenticate_admin(id, m.phone(), binding, Some(proof));
        }
    }
    let (id, dk) = fixture();
    let _ = open_state(dk, id, 1, data, 0);
});
