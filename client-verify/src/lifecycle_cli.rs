//! `sealboost admin add|remove|accept|threshold`, `sealboost key rotate|catch-up`,
//! `sealboost proposals list|approve|reject`: key changes and voting (SPEC §3.6). Every
//! change is a proposal; with the channel's approval threshold at 1 it is enacted at once,
//! otherwise when enough admins approved. New keys are saved beside the old one and made
//! current only once the enclave has them (VAULT.md §11). Every command acts as one admin:
//! `--as NUMBER`, else the number recorded for the channel; only an admin whose signing
//! key this machine holds (enclave VAULT.md §20) — `--as` cannot act for anyone else.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use crate::admin::AdminError;
use crate::attest_cli::EXIT_USAGE;
use crate::channel_cli::{connect, fail, passphrase, print, runtime, Connection};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Invite +NUMBER as an admin: the enclave sends them a one-time passphrase over Signal.
    Add {
        channel: String,
        number: String,
        /// Lifetime of the one-time passphrase in seconds (default 24 h).
        #[arg(long)]
        otp_ttl: Option<u64>,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Remove admin +NUMBER: a full re-key; the others get the new key by one-time passphrase.
    Remove {
        channel: String,
        number: String,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Send admin (or invited admin) +NUMBER a fresh one-time passphrase for the current key,
    /// e.g. when a re-key's passphrases never arrived or they lost their admin key (accepting
    /// it registers a new one). No vote: nobody new gets the key.
    Resend {
        channel: String,
        number: String,
        /// Lifetime of the one-time passphrase in seconds (default 24 h).
        #[arg(long)]
        otp_ttl: Option<u64>,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Redeem a one-time passphrase received over Signal (new admins, and after a re-key).
    Accept {
        channel: String,
        #[arg(long)]
        otp: String,
        /// Your own number (remembered for later commands).
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// How many admins must approve a rotation, an addition or a removal.
    Threshold {
        channel: String,
        n: u16,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Rotate the channel key (a new key from this machine if enacted at once).
    Rotate {
        channel: String,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Fetch the current key if other admins rotated it (also done automatically).
    CatchUp { channel: String },
}

#[derive(Debug, Subcommand)]
pub enum ProposalsCommand {
    /// Open proposals and the approval threshold.
    List {
        channel: String,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Approve proposal ID (the approval reaching the threshold enacts it).
    Approve {
        channel: String,
        id: u32,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
    /// Reject proposal ID.
    Reject {
        channel: String,
        id: u32,
        #[arg(long = "as")]
        as_admin: Option<String>,
    },
}

/// One of the three command groups.
#[derive(Debug)]
pub enum Lifecycle<'a> {
    Admin(&'a AdminCommand),
    Key(&'a KeyCommand),
    Proposals(&'a ProposalsCommand),
}

fn outcome_text(v: &Value) -> String {
    match v["outcome"].as_str() {
        Some("enacted") => {
            let what = v["kind"].as_str().unwrap_or("change");
            let mut s = format!("proposal {} enacted ({what})", v["proposal"]);
            if let Some(g) = v["sk_generation"].as_u64() {
                s.push_str(&format!("; channel key is now generation {g} (saved)"));
            }
            if v["stats"].is_object() {
                s.push_str(&format!(
                    "; {} Signal message(s) delivered, {} failed",
                    v["stats"]["delivered"], v["stats"]["failed"]
                ));
            }
            s + "\n"
        }
        Some("pending") => format!(
            "proposal {} recorded: {} of {} approvals\n",
            v["proposal"], v["approvals"], v["needed"]
        ),
        Some("discarded") => format!(
            "proposal {} discarded ({})\n",
            v["proposal"],
            v["reason"].as_str().unwrap_or("?")
        ),
        _ => format!("{v}\n"),
    }
}

fn list_text(v: &Value) -> String {
    let mut out = format!(
        "threshold {}; you are ADMIN {}; key generation {}\n",
        v["threshold"], v["admin_index"], v["sk_generation"]
    );
    let ps = v["proposals"].as_array().cloned().unwrap_or_default();
    if ps.is_empty() {
        out.push_str("no open proposals\n");
    }
    for p in ps {
        let target = match p["kind"].as_str() {
            Some("add_admin") => format!(" {}", p["phone"].as_str().unwrap_or("?")),
            Some("remove_admin") => format!(" ADMIN {}", p["admin_index"]),
            _ => String::new(),
        };
        out.push_str(&format!(
            "#{} {}{} by ADMIN {}: approvals {} rejections {}\n",
            p["id"],
            p["kind"].as_str().unwrap_or("?"),
            target,
            p["proposer"],
            p["approvals"],
            p["rejections"]
        ));
    }
    out
}

async fn go(c: &Connection, cmd: &Lifecycle<'_>) -> Result<ExitCode, AdminError> {
    let Some(mut client) = connect(c).await? else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let pass = || passphrase(c);
    let (v, human): (Value, fn(&Value) -> String) = match cmd {
        Lifecycle::Admin(AdminCommand::Add {
            channel,
            number,
            otp_ttl,
            as_admin,
        }) => (
            client
                .propose(
                    channel,
                    as_admin.as_deref(),
                    "add_admin",
                    Some(number),
                    *otp_ttl,
                    &pass,
                )
                .await?,
            outcome_text,
        ),
        Lifecycle::Admin(AdminCommand::Remove {
            channel,
            number,
            as_admin,
        }) => (
            client
                .propose(
                    channel,
                    as_admin.as_deref(),
                    "remove_admin",
                    Some(number),
                    None,
                    &pass,
                )
                .await?,
            outcome_text,
        ),
        Lifecycle::Admin(AdminCommand::Resend {
            channel,
            number,
            otp_ttl,
            as_admin,
        }) => (
            client
                .resend(channel, as_admin.as_deref(), number, *otp_ttl, &pass)
                .await?,
            |v| {
                format!(
                    "a new one-time passphrase was sent ({} delivered)\n",
                    v["stats"]["delivered"]
                )
            },
        ),
        Lifecycle::Admin(AdminCommand::Accept {
            channel,
            otp,
            as_admin,
        }) => (
            client
                .accept(channel, otp, as_admin.as_deref(), &pass)
                .await?,
            |v| match v["admin_index"].as_u64() {
                Some(n) => format!("accepted: you are ADMIN {n}; the channel key is saved\n"),
                None => "accepted: the new channel key is saved\n".to_owned(),
            },
        ),
        Lifecycle::Admin(AdminCommand::Threshold {
            channel,
            n,
            as_admin,
        }) => (
            client
                .set_threshold(channel, as_admin.as_deref(), *n, &pass)
                .await?,
            |v| format!("approval threshold is now {}\n", v["threshold"]),
        ),
        Lifecycle::Key(KeyCommand::Rotate { channel, as_admin }) => (
            client
                .propose(channel, as_admin.as_deref(), "rotate", None, None, &pass)
                .await?,
            outcome_text,
        ),
        Lifecycle::Key(KeyCommand::CatchUp { channel }) => {
            let hops = client.catch_up(channel, &pass).await?;
            (serde_json::json!({ "hops": hops }), |v| {
                format!("channel key is current ({} step(s) caught up)\n", v["hops"])
            })
        }
        Lifecycle::Proposals(ProposalsCommand::List { channel, as_admin }) => (
            client
                .proposals(channel, as_admin.as_deref(), &pass)
                .await?,
            list_text,
        ),
        Lifecycle::Proposals(ProposalsCommand::Approve {
            channel,
            id,
            as_admin,
        }) => (
            client
                .vote(channel, as_admin.as_deref(), *id, true, &pass)
                .await?,
            outcome_text,
        ),
        Lifecycle::Proposals(ProposalsCommand::Reject {
            channel,
            id,
            as_admin,
        }) => (
            client
                .vote(channel, as_admin.as_deref(), *id, false, &pass)
                .await?,
            outcome_text,
        ),
    };
    print(c, &v, human);
    Ok(ExitCode::SUCCESS)
}

pub fn run(c: &Connection, cmd: Lifecycle<'_>) -> ExitCode {
    match runtime().block_on(go(c, &cmd)) {
        Ok(code) => code,
        Err(e) => fail(c, &e),
    }
}
