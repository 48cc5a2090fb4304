//! `sealboost channel …` and `sealboost status`: admin commands over an attested session.
//! Human output by default, `--json` for scripts. Exit codes: 0 ok, 1 refused/failed,
//! 2 usage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use attestation::policy::SignedPolicy;
use attestation::Policy;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::admin::{AdminClient, AdminError};
use crate::attest_cli::{self, EXIT_USAGE};
use crate::keystore::KeyStore;

/// Where and how to reach the enclave, and whom to trust.
#[derive(Debug, Args)]
pub struct Connection {
    /// The host's client-facing address (TLS passes through to the enclave).
    #[arg(long, global = true, default_value = "127.0.0.1:8443")]
    pub connect: SocketAddr,
    /// Local state: key files, epochs, and (by default) the pinned policy.
    #[arg(long, global = true, env = "SEALBOOST_HOME")]
    pub state_dir: Option<PathBuf>,
    /// Signed release policy to pin (default: <state-dir>/policy.signed).
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// The release key that must have signed it: 64 hex digits or a file
    /// (default: <state-dir>/release-key.pub).
    #[arg(long, global = true)]
    pub release_key: Option<String>,
    /// Read the key-file passphrase from this environment variable (encrypts new keys too).
    #[arg(long, global = true)]
    pub passphrase_env: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Accept a SIMULATED enclave (no TEE) when the signed policy allows it: development
    /// and CI stacks only. Without it a simulated enclave is refused.
    #[arg(long, global = true, env = "SEALBOOST_ALLOW_SIMULATED",
          value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_simulated: bool,
}

impl Connection {
    /// Which platforms this invocation accepts.
    pub fn platforms(&self) -> crate::session::Platforms {
        if self.allow_simulated {
            crate::session::Platforms::DangerIncludingSimulated
        } else {
            crate::session::Platforms::TeeOnly
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Create a channel; you become ADMIN 1. Prints the channel id.
    Create {
        /// Your Signal number (E.164, e.g. +15551234567).
        #[arg(long)]
        admin: String,
    },
    /// Settings and member counts.
    Info { channel: String },
    /// Admins with their numbers; subscribers counted by language (never by number).
    Members { channel: String },
    /// Show or change settings.
    Settings {
        channel: String,
        #[arg(long, value_parser = ["on", "off"])]
        hotline: Option<String>,
        #[arg(long)]
        disappearing_timer_secs: Option<u32>,
        #[arg(long, value_parser = ["off", "on", "admin"])]
        vouching: Option<String>,
        #[arg(long)]
        vouch_level: Option<u8>,
        #[arg(long)]
        subscriber_limit: Option<u32>,
    },
    /// Register the channel's own Signal number (the number subscribers write to).
    RegisterNumber {
        channel: String,
        /// The channel's number (E.164).
        #[arg(long)]
        number: String,
        /// The verification code the service sent to that number.
        #[arg(long)]
        code: String,
    },
    /// Add or remove subscribers by number (admin maintenance). Admins are added and removed
    /// with `sealboost admin add|remove` (one-time passphrase, re-key, votes).
    ChangeMembers {
        channel: String,
        /// Add a subscriber (repeatable).
        #[arg(long = "add-subscriber")]
        add_subscribers: Vec<String>,
        /// Remove a subscriber (repeatable).
        #[arg(long = "remove")]
        remove: Vec<String>,
    },
}

pub(crate) fn state_dir(c: &Connection) -> PathBuf {
    c.state_dir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".sealboost")
    })
}

/// The pinned, signed policy. No flag accepts an unsigned one here.
pub(crate) fn load_policy(c: &Connection) -> Result<Policy, String> {
    let dir = state_dir(c);
    let path = c
        .policy
        .clone()
        .unwrap_or_else(|| dir.join("policy.signed"));
    let key_arg = c
        .release_key
        .clone()
        .unwrap_or_else(|| dir.join("release-key.pub").to_string_lossy().into_owned());
    let key = attest_cli::release_key(&key_arg).map_err(|u| u.0)?;
    let file = attest_cli::read_file(Path::new(&path)).map_err(|u| u.0)?;
    SignedPolicy::parse(&file)
        .and_then(|s| s.verify(&key))
        .map_err(|e| format!("policy {}: {e}", path.display()))
}

pub(crate) fn passphrase(c: &Connection) -> Option<Zeroizing<Vec<u8>>> {
    let var = c.passphrase_env.as_ref()?;
    std::env::var_os(var).map(|v| Zeroizing::new(v.into_encoded_bytes()))
}

pub(crate) fn print(c: &Connection, v: &Value, human: impl FnOnce(&Value) -> String) {
    if c.json {
        println!("{v}");
    } else {
        print!("{}", human(v));
    }
}

pub(crate) fn fail(c: &Connection, e: &AdminError) -> ExitCode {
    let code = match e {
        AdminError::RollbackDetected { .. } => "rollback_detected",
        AdminError::Unauthorized => "unauthorized",
        AdminError::RateLimited { .. } => "rate_limited",
        AdminError::Integrity => "integrity_failure",
        AdminError::Session(crate::session::SessionError::Attestation(a)) => a.code(),
        AdminError::Session(_) => "session_failed",
        AdminError::KeyStore(_) => "key_store",
        _ => "failed",
    };
    if c.json {
        println!("{}", json!({ "error": code, "detail": e.to_string() }));
    } else {
        eprintln!("sealboost: {e}");
    }
    ExitCode::from(1)
}

fn settings_text(s: &Value) -> String {
    let mut out = String::new();
    if let Some(m) = s.as_object() {
        for (k, v) in m {
            out.push_str(&format!("  {k:<26} {v}\n"));
        }
    }
    out
}

/// Loads the pinned policy and opens an attested admin session. `None` (after saying why)
/// when the policy cannot be used: a usage error, exit code 2.
pub(crate) async fn connect(c: &Connection) -> Result<Option<AdminClient>, AdminError> {
    let policy = match load_policy(c) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("sealboost: {msg}");
            return Ok(None);
        }
    };
    let store = KeyStore::open(state_dir(c));
    Ok(Some(
        AdminClient::connect_with(c.connect, &policy, store, c.platforms()).await?,
    ))
}

async fn run_channel(c: &Connection, cmd: &ChannelCommand) -> Result<ExitCode, AdminError> {
    let Some(mut client) = connect(c).await? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let pass = || passphrase(c);
    match cmd {
        ChannelCommand::Create { admin } => {
            let p = passphrase(c);
            let (id, epoch) = client
                .create_channel(admin, p.as_deref().map(|v| &v[..]))
                .await?;
            print(c, &json!({ "channel_id": id, "epoch": epoch }), |_| {
                format!(
                    "created channel {id} (epoch {epoch}); you are ADMIN 1\nkey saved in {}\n",
                    state_dir(c).display()
                )
            });
        }
        ChannelCommand::Info { channel } => {
            let v = client.info(channel, &pass).await?;
            print(c, &v, |v| {
                format!(
                    "channel {channel} (epoch {})\n  admins {}, subscribers {}, hotline records {}, invites {}\nsettings:\n{}",
                    v["epoch"], v["admins"], v["subscribers"], v["hotline_records"], v["invites"],
                    settings_text(&v["settings"])
                )
            });
        }
        ChannelCommand::Members { channel } => {
            let v = client.members(channel, &pass).await?;
            print(c, &v, |v| {
                let mut out = format!("channel {channel} (epoch {})\n", v["epoch"]);
                let mut languages = std::collections::BTreeMap::<&str, usize>::new();
                for m in v["members"].as_array().into_iter().flatten() {
                    let language = m["language"].as_str().unwrap_or("?");
                    let Some(n) = m["admin"].as_u64() else {
                        *languages.entry(language).or_default() += 1;
                        continue;
                    };
                    let number = if m["number_hidden"].as_bool() == Some(true) {
                        "(number hidden)"
                    } else {
                        m["number"].as_str().unwrap_or("?")
                    };
                    out.push_str(&format!("  ADMIN {n:<6} {number:<18} {language}\n"));
                }
                let total: usize = languages.values().sum();
                let by_language: Vec<String> =
                    languages.iter().map(|(l, n)| format!("{l} {n}")).collect();
                out.push_str(&format!(
                    "  subscribers: {total}{} (their numbers are never shown)\n",
                    if total == 0 {
                        String::new()
                    } else {
                        format!(" ({})", by_language.join(", "))
                    }
                ));
                out
            });
        }
        ChannelCommand::Settings {
            channel,
            hotline,
            disappearing_timer_secs,
            vouching,
            vouch_level,
            subscriber_limit,
        } => {
            let mut set = serde_json::Map::new();
            if let Some(h) = hotline {
                set.insert("hotline".into(), json!(h == "on"));
            }
            if let Some(t) = disappearing_timer_secs {
                set.insert("disappearing_timer_secs".into(), json!(t));
            }
            if let Some(v) = vouching {
                set.insert("vouch_mode".into(), json!(v));
            }
            if let Some(l) = vouch_level {
                set.insert("vouch_level".into(), json!(l));
            }
            if let Some(l) = subscriber_limit {
                set.insert("subscriber_limit".into(), json!(l));
            }
            let v = client.settings(channel, Value::Object(set), &pass).await?;
            print(c, &v, |v| {
                format!(
                    "channel {channel} (epoch {})\nsettings:\n{}",
                    v["epoch"],
                    settings_text(&v["settings"])
                )
            });
        }
        ChannelCommand::RegisterNumber {
            channel,
            number,
            code,
        } => {
            let v = client.register_number(channel, number, code, &pass).await?;
            print(c, &v, |v| {
                format!(
                    "channel {channel} (epoch {}) is now reachable on Signal at {number}\n",
                    v["epoch"]
                )
            });
        }
        ChannelCommand::ChangeMembers {
            channel,
            add_subscribers,
            remove,
        } => {
            let add: Vec<Value> = add_subscribers
                .iter()
                .map(|n| json!({ "number": n, "role": "subscriber" }))
                .collect();
            let v = client
                .change_members(channel, Value::Array(add), remove.clone(), &pass)
                .await?;
            print(c, &v, |v| {
                format!(
                    "channel {channel} (epoch {}): {} admins, {} subscribers\n",
                    v["epoch"], v["admins"], v["subscribers"]
                )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime always builds")
}

pub fn run(c: &Connection, cmd: &ChannelCommand) -> ExitCode {
    match runtime().block_on(run_channel(c, cmd)) {
        Ok(code) => code,
        Err(e) => fail(c, &e),
    }
}

/// `sealboost status CHANNEL`: queue length; sends no key.
pub fn status(c: &Connection, channel: &str) -> ExitCode {
    let r = runtime().block_on(async {
        let policy = match load_policy(c) {
            Ok(p) => p,
            Err(msg) => {
                eprintln!("sealboost: {msg}");
                return Ok(None);
            }
        };
        let mut client = AdminClient::connect_with(
            c.connect,
            &policy,
            KeyStore::open(state_dir(c)),
            c.platforms(),
        )
        .await?;
        client.status(channel).await.map(Some)
    });
    match r {
        Ok(Some(v)) => {
            print(c, &v, |v| {
                format!(
                    "channel {channel}: {} messages waiting\n",
                    v["queue_length"]
                )
            });
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::from(EXIT_USAGE),
        Err(e) => fail(c, &e),
    }
}
