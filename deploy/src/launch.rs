//! Launch configuration for the real platforms, checked before anything starts.
//!
//! - Nitro: the JSON file `nitro-cli run-enclave --config FILE` reads. Debug mode is never
//!   written and a config that asks for it is refused: a debug enclave reports all-zero
//!   PCRs, every policy rejects it, and its console would show enclave memory to the host.
//! - SEV-SNP: the QEMU command line `sealboost-host` builds (host/src/launcher.rs), printed
//!   with the launch measurement of exactly those inputs, so the value that goes into the
//!   policy and the guest that is started cannot drift apart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::snp::SnpLaunch;

/// Lowest CID an enclave may use: 0–2 are reserved and 3 is the parent instance.
pub const MIN_ENCLAVE_CID: u32 = 4;
/// Smallest enclave memory we configure.
pub const MIN_ENCLAVE_MEMORY_MIB: u32 = 64;
/// The port the enclave accepts link connections on (wire/SPEC.md §2.1).
pub const ENCLAVE_LINK_PORT: u32 = 5000;
/// The port the host accepts link connections on (wire/SPEC.md §2.1).
pub const HOST_LINK_PORT: u32 = 6000;

fn refused(reason: impl Into<String>) -> DeployError {
    DeployError::LaunchRefused {
        reason: reason.into(),
    }
}

/// `nitro-cli run-enclave --config` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NitroRunConfig {
    pub enclave_name: String,
    pub eif_path: PathBuf,
    pub memory_mib: u32,
    pub cpu_count: u32,
    pub enclave_cid: u32,
    /// Always false; present so the file says so explicitly.
    pub debug_mode: bool,
}

impl NitroRunConfig {
    /// A production configuration (debug mode off), checked.
    pub fn new(eif: &Path, cid: u32, memory_mib: u32, cpus: u32) -> Result<Self, DeployError> {
        let c = Self {
            enclave_name: "sealboost".into(),
            eif_path: eif.to_owned(),
            memory_mib,
            cpu_count: cpus,
            enclave_cid: cid,
            debug_mode: false,
        };
        c.check()?;
        Ok(c)
    }

    /// Refuses debug mode and out-of-range values.
    pub fn check(&self) -> Result<(), DeployError> {
        if self.debug_mode {
            return Err(refused(
                "debug_mode is true: a debug enclave has zero PCRs, no policy accepts it, \
                 and its console exposes enclave state to the host",
            ));
        }
        if self.enclave_cid < MIN_ENCLAVE_CID || self.enclave_cid == u32::MAX {
            return Err(refused(format!(
                "enclave_cid must be at least {MIN_ENCLAVE_CID} (0-2 reserved, 3 is the parent) and below 2^32-1"
            )));
        }
        if self.memory_mib < MIN_ENCLAVE_MEMORY_MIB {
            return Err(refused(format!(
                "memory_mib must be at least {MIN_ENCLAVE_MEMORY_MIB}"
            )));
        }
        if self.cpu_count == 0 {
            return Err(refused("cpu_count must be at least 1"));
        }
        Ok(())
    }

    /// Parses and checks a config file's contents.
    pub fn parse(json: &str) -> Result<Self, DeployError> {
        let c: Self = serde_json::from_str(json)
            .map_err(|e| refused(format!("not a nitro-cli run-enclave config: {e}")))?;
        c.check()?;
        Ok(c)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises") + "\n"
    }

    /// The `sealboost-host run` flags that launch this enclave and reach it.
    pub fn host_flags(&self) -> Vec<String> {
        vec![
            "--launch".into(),
            "nitro".into(),
            "--eif".into(),
            self.eif_path.display().to_string(),
            "--enclave-cid".into(),
            self.enclave_cid.to_string(),
            "--enclave-memory-mib".into(),
            self.memory_mib.to_string(),
            "--enclave-cpus".into(),
            self.cpu_count.to_string(),
            "--enclave-link".into(),
            format!("vsock:{}:{ENCLAVE_LINK_PORT}", self.enclave_cid),
            "--host-link".into(),
            format!("vsock:3:{HOST_LINK_PORT}"),
        ]
    }
}

/// The QEMU command line for an SNP guest, identical in shape to the host launcher's.
pub fn snp_qemu_argv(
    qemu: &Path,
    launch: &SnpLaunch,
    memory_mib: u32,
    cid: u32,
) -> Result<Vec<String>, DeployError> {
    if cid < 3 || cid == u32::MAX {
        return Err(refused("guest-cid must be at least 3 (0-2 are reserved)"));
    }
    if memory_mib < MIN_ENCLAVE_MEMORY_MIB {
        return Err(refused(format!(
            "memory must be at least {MIN_ENCLAVE_MEMORY_MIB} MiB"
        )));
    }
    let p = |p: &Path| p.display().to_string();
    Ok(vec![
        p(qemu),
        "-enable-kvm".into(),
        "-nographic".into(),
        "-nodefaults".into(),
        "-cpu".into(),
        launch.vcpu_type.clone(),
        "-smp".into(),
        launch.vcpus.to_string(),
        "-m".into(),
        format!("{memory_mib}M"),
        "-machine".into(),
        "q35,confidential-guest-support=sev0,memory-backend=ram1".into(),
        "-object".into(),
        format!("memory-backend-memfd,id=ram1,size={memory_mib}M,share=true"),
        "-object".into(),
        "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on".into(),
        "-bios".into(),
        p(&launch.ovmf),
        "-kernel".into(),
        p(&launch.kernel),
        "-initrd".into(),
        p(&launch.initrd),
        "-append".into(),
        launch.cmdline.clone(),
        "-device".into(),
        format!("vhost-vsock-pci,guest-cid={cid}"),
    ])
}
