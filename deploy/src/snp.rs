//! AMD SEV-SNP launch measurement of a QEMU direct-boot guest.
//!
//! The launch digest (report field MEASUREMENT) is the SHA-384 chain the AMD-SP builds
//! from SNP_LAUNCH_UPDATE calls (SEV-SNP ABI, "Launch digest calculation"): the OVMF
//! image pages, the metadata pages OVMF declares (secrets, CPUID, zeroed memory), the
//! page holding the SEV hashes table (SHA-256 of kernel, initrd and cmdline, present
//! because the launcher sets `kernel-hashes=on`), and one VMSA page per vCPU. The VMSA
//! depends on the vCPU type (its CPUID signature), the VMM (QEMU or EC2) and the guest
//! features (SEV_FEATURES).
//!
//! The page-by-page computation is the `sev` crate's (`sev::measurement`), built with
//! `crypto_nossl`. This module pins its inputs to the way `sealboost-host` launches a
//! guest and makes every input explicit.

use std::path::PathBuf;

use sev::measurement::snp::{snp_calc_launch_digest, SnpMeasurementArgs};
use sev::measurement::vcpu_types::CpuType;
use sev::measurement::vmsa::{GuestFeatures, VMMType};

use crate::error::DeployError;

/// Guest features QEMU sets by default for an SNP guest: only SNPActive (bit 0). QEMU and
/// kernel versions that turn on DebugSwap (bit 5, i.e. 0x21) change the measurement;
/// pass what the platform actually uses.
pub const DEFAULT_GUEST_FEATURES: u64 = 0x1;

/// The VMM that creates the VMSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Vmm {
    /// QEMU/KVM (what the host launcher starts).
    Qemu,
    /// AWS EC2's SNP instances.
    Ec2,
}

/// Everything the launch digest depends on.
#[derive(Debug, Clone)]
pub struct SnpLaunch {
    pub ovmf: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub cmdline: String,
    pub vcpus: u32,
    /// QEMU's `-cpu` name, e.g. `EPYC-v4`, `EPYC-Milan`, `EPYC-Genoa`.
    pub vcpu_type: String,
    pub guest_features: u64,
    pub vmm: Vmm,
}

fn failed(reason: impl Into<String>) -> DeployError {
    DeployError::SnpMeasurement {
        reason: reason.into(),
    }
}

/// The 48-byte MEASUREMENT an SNP guest launched this way reports.
pub fn snp_launch_digest(launch: &SnpLaunch) -> Result<[u8; 48], DeployError> {
    if launch.vcpus == 0 || launch.vcpus > 512 {
        return Err(failed("vcpus must be in 1..=512"));
    }
    // The sev crate trims the cmdline before hashing it; QEMU hashes it exactly (plus a
    // NUL). Refuse what the two would disagree on instead of printing a wrong value.
    if launch.cmdline.trim() != launch.cmdline {
        return Err(failed("cmdline has leading or trailing whitespace"));
    }
    for p in [&launch.ovmf, &launch.kernel, &launch.initrd] {
        // The sev crate would report a missing file without its name.
        std::fs::metadata(p).map_err(DeployError::io(p))?;
    }
    let vcpu_type = CpuType::try_from(launch.vcpu_type.to_ascii_lowercase().as_str())
        .map_err(|_| failed(format!("unknown vCPU type {:?}", launch.vcpu_type)))?;
    let args = SnpMeasurementArgs {
        vcpus: launch.vcpus,
        vcpu_type,
        ovmf_file: launch.ovmf.clone(),
        guest_features: GuestFeatures(launch.guest_features),
        kernel_file: Some(launch.kernel.clone()),
        initrd_file: Some(launch.initrd.clone()),
        append: Some(launch.cmdline.as_str()),
        ovmf_hash_str: None,
        vmm_type: Some(match launch.vmm {
            Vmm::Qemu => VMMType::QEMU,
            Vmm::Ec2 => VMMType::EC2,
        }),
    };
    let digest = snp_calc_launch_digest(args).map_err(|e| failed(e.to_string()))?;
    let bytes: Vec<u8> = digest
        .try_into()
        .map_err(|_| failed("digest has the wrong length"))?;
    bytes
        .try_into()
        .map_err(|_| failed("digest has the wrong length"))
}
