//! Helpers shared by the key-lifecycle end-to-end tests (`lifecycle`, `lifecycle_restart`,
//! `rekey_interrupted`): channel ids, the CLI's JSON, the admin's key file, blobs as the
//! host stores them, and stack options with a signal-sim and a fixed store directory.

use std::path::Path;

use enclave::vault::{names, seal_inbound, ChannelId, InboundAuthKey, KeyRecord};
use wire::blob::{BlobRequest, BlobResponse};

use crate::signal::AdminCli;
use crate::{blob_call, Sim, Stack, StackOpts};

/// The channel id a CLI prints (32 hex digits).
pub fn channel_id(hex_id: &str) -> ChannelId {
    ChannelId::from_bytes(hex::decode(hex_id).unwrap().try_into().unwrap())
}

/// One line of `--json` output, parsed.
pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap()
}

/// The raw key file of `cli` for `ch` (`sealboost-sk-v1 raw <hex>`).
pub fn key_file(cli: &AdminCli, ch: &str) -> String {
    std::fs::read_to_string(cli.state_dir().join("channels").join(ch).join("sk")).unwrap()
}

/// Whether `cli` holds a key for `ch`.
pub fn has_key(cli: &AdminCli, ch: &str) -> bool {
    cli.state_dir()
        .join("channels")
        .join(ch)
        .join("sk")
        .exists()
}

/// Runs `sealboost … --json` and expects failure; returns what it printed (the error code
/// and detail).
pub fn fails(cli: &AdminCli, args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli.run(&a);
    assert_ne!(code, 0, "sealboost {args:?} succeeded: {out}");
    format!("{out}{err}")
}

/// A blob as the host stores it (version, bytes), or `None`.
pub async fn get_blob(stack: &Stack, name: Vec<u8>) -> Option<(u64, Vec<u8>)> {
    match blob_call(stack, BlobRequest::Get { name }).await {
        BlobResponse::Blob { version, data } => Some((version, data)),
        BlobResponse::NotFound => None,
        other => panic!("{other:?}"),
    }
}

/// A stack wired to `sim`, with its store in `dir` (so a restart finds it again).
pub fn opts(sim: &Sim, dir: &Path) -> StackOpts {
    std::fs::create_dir_all(dir).unwrap();
    StackOpts {
        signal: Some(sim.info.clone()),
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

/// What a hostile host can do to a channel's inbound queue: seal `plaintext` to the
/// channel's EK, which its key record holds in clear, in the current item format, with an
/// authentication key of its own (it never sees the channel's, VAULT.md §6). The enclave
/// must count such an item as rejected and act on nothing in it.
pub async fn seal_for_channel(stack: &Stack, id: &ChannelId, plaintext: &[u8]) -> Vec<u8> {
    let (_, record) = get_blob(stack, names::key_record(id)).await.unwrap();
    let record = KeyRecord::decode(&record).unwrap();
    seal_inbound(
        record.ek_public(),
        &InboundAuthKey::from_bytes([0x42; 32]),
        id,
        record.key_epoch(),
        plaintext,
        &mut rand_core::OsRng,
    )
    .unwrap()
}

/// Appends `item` to the channel's inbound queue, as the host's receiver would.
pub async fn append_inbound(stack: &Stack, id: &ChannelId, item: Vec<u8>) {
    let r = blob_call(
        stack,
        BlobRequest::QueueAppend {
            queue: names::inbound(id),
            item,
        },
    )
    .await;
    assert!(matches!(r, BlobResponse::Appended { .. }), "{r:?}");
}
