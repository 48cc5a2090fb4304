//! Starts and supervises the enclave (DESIGN §7).
//!
//! In simulation the enclave is a child process. When the kernel lets us, it runs in a
//! network namespace of its own with no interfaces (`unshare --net`), so the only way in or
//! out is the link — exactly the shape of a Nitro enclave. On Nitro and SEV-SNP the
//! launcher only builds the documented `nitro-cli` / QEMU commands (see docs/OPERATIONS.md);
//! those platforms cannot run on CI machines.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use wire::control::ControlRequest;
use wire::link::LinkAddr;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

#[derive(Debug, Clone)]
pub enum Launch {
    /// The enclave runs elsewhere (started by hand, by systemd, or by nitro-cli).
    External,
    Simulated {
        exe: PathBuf,
        args: Vec<OsString>,
        /// Put the child in an empty network namespace. Falls back (with a warning) when
        /// the kernel refuses, unless `require_isolation` is set.
        isolate_network: bool,
        require_isolation: bool,
    },
    Nitro {
        eif: PathBuf,
        cid: u32,
        memory_mib: u32,
        cpus: u32,
    },
    SevSnp {
        qemu: PathBuf,
        ovmf: PathBuf,
        kernel: PathBuf,
        initrd: PathBuf,
        cmdline: String,
        memory_mib: u32,
        cpus: u32,
        cid: u32,
    },
}

/// Whether `unshare --net` works here (root, or unprivileged user namespaces).
pub fn netns_available() -> bool {
    std::process::Command::new("unshare")
        .args(["--net", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn pdeathsig_available() -> bool {
    std::process::Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Launch {
    /// The command that starts the enclave, or `None` for [`Launch::External`].
    pub fn command(&self) -> Result<Option<Command>, String> {
        Ok(Some(match self {
            Launch::External => return Ok(None),
            Launch::Simulated {
                exe,
                args,
                isolate_network,
                require_isolation,
            } => {
                // `setpriv --pdeathsig KILL`: a simulated enclave must not outlive its host
                // (a SIGKILLed host cannot clean up), just as a Nitro enclave dies with
                // its parent instance.
                let pdeathsig = pdeathsig_available();
                if *isolate_network && netns_available() {
                    let mut c = Command::new("unshare");
                    c.arg("--net").arg("--");
                    if pdeathsig {
                        c.args(["setpriv", "--pdeathsig", "KILL", "--"]);
                    }
                    c.arg(exe).args(args);
                    c
                } else if *require_isolation {
                    return Err("network isolation required but `unshare --net` is refused".into());
                } else {
                    if *isolate_network {
                        tracing::warn!("`unshare --net` refused here: enclave shares the host network namespace");
                    }
                    let mut c = if pdeathsig {
                        let mut c = Command::new("setpriv");
                        c.args(["--pdeathsig", "KILL", "--"]).arg(exe);
                        c
                    } else {
                        Command::new(exe)
                    };
                    c.args(args);
                    c
                }
            }
            // Debug mode is never requested: a debug enclave's PCRs are zero and every
            // client policy rejects it, so launching one would only be an outage.
            Launch::Nitro {
                eif,
                cid,
                memory_mib,
                cpus,
            } => {
                let mut c = Command::new("nitro-cli");
                c.arg("run-enclave")
                    .arg("--eif-path")
                    .arg(eif)
                    .args(["--enclave-cid", &cid.to_string()])
                    .args(["--memory", &memory_mib.to_string()])
                    .args(["--cpu-count", &cpus.to_string()]);
                c
            }
            Launch::SevSnp {
                qemu,
                ovmf,
                kernel,
                initrd,
                cmdline,
                memory_mib,
                cpus,
                cid,
            } => {
                let mut c = Command::new(qemu);
                c.args(["-enable-kvm", "-nographic", "-nodefaults"])
                    .args(["-cpu", "EPYC-v4"])
                    .args(["-smp", &cpus.to_string(), "-m", &format!("{memory_mib}M")])
                    .args([
                        "-machine",
                        "q35,confidential-guest-support=sev0,memory-backend=ram1",
                    ])
                    .args([
                        "-object",
                        &format!("memory-backend-memfd,id=ram1,size={memory_mib}M,share=true"),
                    ])
                    // kernel-hashes=on puts kernel, initrd and cmdline into the launch
                    // measurement, which the release policy pins.
                    .args([
                        "-object",
                        "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on",
                    ])
                    .arg("-bios")
                    .arg(ovmf)
                    .arg("-kernel")
                    .arg(kernel)
                    .arg("-initrd")
                    .arg(initrd)
                    .args(["-append", cmdline])
                    .args(["-device", &format!("vhost-vsock-pci,guest-cid={cid}")]);
                c
            }
        }))
    }
}

/// Runs the enclave and restarts it (with backoff) if it exits, until shutdown; then asks
/// it to stop over the control stream and kills it after `grace`.
pub async fn supervise(
    launch: Launch,
    enclave: LinkAddr,
    grace: Duration,
    metrics: Arc<Metrics>,
    mut shutdown: Shutdown,
) -> Result<(), String> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let Some(mut cmd) = launch.command()? else {
            return Ok(());
        };
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting the enclave: {e}"))?;
        Metrics::inc(&metrics.enclave_starts);
        tracing::info!(pid = child.id(), "enclave started");
        let started = std::time::Instant::now();
        tokio::select! {
            status = child.wait() => {
                if shutdown.is_fired() {
                    return Ok(());
                }
                tracing::error!(?status, "enclave exited; restarting after {:?}", backoff);
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_millis(500);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.wait() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            () = shutdown.wait() => {
                let _ = crate::health::control(&enclave, ControlRequest::Shutdown, Duration::from_secs(2)).await;
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    tracing::warn!("enclave did not stop in time; killing it");
                    let _ = child.kill().await;
                }
                return Ok(());
            }
        }
    }
}
