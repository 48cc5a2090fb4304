//! Broadcast fan-out: encrypt + serialize one message to 10,000 established sessions
//! through `fanout::prepare_one` (what `send_many` does before the network), against a
//! bare libsignal `message_encrypt` loop over the same sessions. Prints one run.
//!
//! `cargo bench -p sealboost-tests --bench broadcast` runs the same comparison and then the
//! end-to-end broadcast, printing both of issue 5's figures from one run.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

// The broadcast bench reads the figures this one only prints.
#[allow(dead_code)]
#[path = "common/fanout_ratio.rs"]
mod fanout_ratio;

fn main() {
    fanout_ratio::run(fanout_ratio::recipients_from_env());
}
