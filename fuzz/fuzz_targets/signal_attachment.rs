//! signal-client attachment decryption (signal-client/SPEC.md §6) on arbitrary blob, key,
//! digest and size: it must never panic. When the input's digest is made to match, the
//! MAC and padding checks are exercised too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;

fuzz_target!(|data: &[u8]| {
    if data.len() < 68 {
        return;
    }
    let (keys, rest) = data.split_at(64);
    let (size, blob) = rest.split_at(4);
    let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
    let _ = signal_client::attachments::decrypt(blob, keys, &[0u8; 32], size);
    let digest = sha2::Sha256::digest(blob);
    let _ = signal_client::attachments::decrypt(blob, keys, &digest, size);
});
