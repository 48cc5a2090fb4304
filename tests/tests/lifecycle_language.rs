//! Key-lifecycle texts over Signal in the recipient's language (issue 5: replies are
//! localised in EN/ES/FR/DE), end to end: host + simulated enclave + signal-sim + phones +
//! one admin CLI per admin. ADMIN 1 speaks Spanish, so the admins it invites get their
//! passphrase in Spanish (they are not members yet); ADMIN 2 switches to German and gets
//! the re-key passphrase after a removal, and a resent one, in German, and redeems both; the
//! remover's notice is Spanish, the removed admin's their own (English); a proposal and its
//! discard reach each admin in their language. The passphrase and the command lines are the
//! same in every language.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::time::Duration;

use sealboost_tests::lifecycle::{json, key_file};
use sealboost_tests::signal::{bodies, otp_in, phone, receive_until, AdminCli, World};
use signal_client::phone::Phone;

const A1: &str = "+15550711001";
const A2: &str = "+15550711002";
const A3: &str = "+15550711003";
const CHANNEL: &str = "+15550719000";
const WAIT: Duration = Duration::from_secs(20);

/// Waits for a message from the channel whose body starts with `start`; returns it.
async fn expect_start(p: &mut Phone, start: &str) -> String {
    let got = receive_until(p, WAIT, |m| bodies(m).iter().any(|b| b.starts_with(start))).await;
    bodies(&got)
        .into_iter()
        .find(|b| b.starts_with(start))
        .unwrap_or_else(|| panic!("no message starting {start:?}: {:?}", bodies(&got)))
}

/// The passphrase in `body`, checked against the command line that redeems it.
fn passphrase(body: &str, ch: &str) -> String {
    let otp = otp_in(body).unwrap();
    assert_eq!(otp.len(), 39, "{body}");
    let line = body.lines().nth(1).unwrap();
    assert!(
        line.contains(&format!("sealboost admin accept {ch} --otp {otp}")),
        "{body}"
    );
    otp
}

#[tokio::test(flavor = "current_thread")]
async fn lifecycle_passphrases_and_notices_reach_each_admin_in_their_language() {
    let (w, mut a1) = World::start(A1, CHANNEL, &[]).await;
    let ch = w.ch.clone();
    a1.send_text(CHANNEL, "ESPAÑOL").await.unwrap();
    w.process(1);
    expect_start(&mut a1, "A partir de ahora te hablaré en español.").await;

    // A2 is invited by the Spanish-speaking ADMIN 1: the invitation is in Spanish, with the
    // `--as` placeholder translated, and A2's own client redeems it.
    let mut a2 = phone(&w.sim.info, A2).await;
    let v = json(&w.cli.ok(&["admin", "add", &ch, A2, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let invite = expect_start(
        &mut a2,
        "Te invitaron a ser admin de este canal. Tu contraseña de un solo uso (válida 24 h): ",
    )
    .await;
    assert!(invite.ends_with(" --as <tu número>"), "{invite}");
    let a2_cli = AdminCli::new(&w.stack);
    let v = a2_cli.accept(&ch, &passphrase(&invite, &ch), A2);
    assert_eq!(v["admin_index"], 2, "{v}");

    // ADMIN 2 switches to German; A3 is invited (in Spanish too) and becomes ADMIN 3.
    a2.send_text(CHANNEL, "DEUTSCH").await.unwrap();
    w.process(1);
    expect_start(&mut a2, "Ich schreibe dir ab jetzt auf Deutsch.").await;
    let mut a3 = phone(&w.sim.info, A3).await;
    let v = json(&w.cli.ok(&["admin", "add", &ch, A3, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let invite = expect_start(&mut a3, "Te invitaron a ser admin").await;
    let a3_cli = AdminCli::new(&w.stack);
    let v = a3_cli.accept(&ch, &passphrase(&invite, &ch), A3);
    assert_eq!(v["admin_index"], 3, "{v}");

    // ADMIN 1 removes ADMIN 3: the channel is re-keyed. ADMIN 2 gets the new key's
    // passphrase in German and redeems it; ADMIN 1's notice is Spanish; the removed admin's
    // is in their own language (English: an accepted admin starts in the default).
    let v = json(&w.cli.ok(&["admin", "remove", &ch, A3, "--json"]));
    assert_eq!(v["outcome"], "enacted", "{v}");
    let rekey = expect_start(
        &mut a2,
        "ADMIN 3 wurde entfernt und dieser Kanal hat jetzt einen neuen Schlüssel. Deine Einmal-Passphrase für den neuen Schlüssel (gültig 24 h): ",
    )
    .await;
    assert!(!rekey.contains("--as"), "{rekey}");
    let v = a2_cli.accept(&ch, &passphrase(&rekey, &ch), A2);
    assert!(v["admin_index"].is_null(), "{v}");
    assert_eq!(key_file(&a2_cli, &ch), key_file(&w.cli, &ch));
    expect_start(
        &mut a1,
        "Se quitó a ADMIN 3 y este canal tiene ahora una clave nueva.",
    )
    .await;
    expect_start(
        &mut a3,
        "You were removed from this channel's admins and from the channel; its key was changed.",
    )
    .await;

    // A resent passphrase for the current key: German for ADMIN 2, and it works.
    let v = json(&w.cli.ok(&["admin", "resend", &ch, A2, "--json"]));
    assert_eq!(v["stats"]["delivered"], 1, "{v}");
    let resent = expect_start(
        &mut a2,
        "Deine Einmal-Passphrase für den aktuellen Schlüssel dieses Kanals (gültig 24 h): ",
    )
    .await;
    // (A resend to an admin re-enrols their signing key under the index they keep.)
    let v = a2_cli.accept(&ch, &passphrase(&resent, &ch), A2);
    assert_eq!(v["admin_index"], 2, "{v}");
    let v = json(&a2_cli.ok(&["proposals", "list", &ch, "--json"]));
    assert_eq!(v["admin_index"], 2, "{v}");

    // Under a threshold of 2, ADMIN 1's proposal reaches ADMIN 2 in German (the command
    // lines untranslated); ADMIN 2's rejection discards it, and ADMIN 1 is told in Spanish.
    let v = json(&w.cli.ok(&["admin", "threshold", &ch, "2", "--json"]));
    assert_eq!(v["threshold"], 2, "{v}");
    let rot = json(&w.cli.ok(&["key", "rotate", &ch, "--json"]));
    assert_eq!(rot["outcome"], "pending", "{rot}");
    let pid = rot["proposal"].as_u64().unwrap();
    let note = expect_start(
        &mut a2,
        &format!("ADMIN 1 schlägt vor, den Kanalschlüssel zu erneuern (Vorschlag #{pid}, 1 von 2 Zustimmungen).\nZustimmen: sealboost proposals approve {ch} {pid}\nAblehnen: sealboost proposals reject {ch} {pid}"),
    )
    .await;
    assert_eq!(note.lines().count(), 3, "{note}");
    let v = json(&a2_cli.ok(&["proposals", "reject", &ch, &pid.to_string(), "--json"]));
    assert_eq!(v["outcome"], "discarded", "{v}");
    expect_start(
        &mut a1,
        &format!(
            "La propuesta #{pid} se descartó: ya no puede reunir las aprobaciones necesarias."
        ),
    )
    .await;
}
