//! The key-lifecycle texts the enclave sends over Signal from the channel's number
//! (`lifecycle_api`): one-time passphrases for a new admin, after a re-key and on
//! `admin/resend`, the notices of a removal, and proposal notices. EN, ES, FR and DE, in the
//! style of [`super::strings`] and written for sealboost.
//!
//! The machine-readable parts are the same in every language: the passphrase follows the
//! first `"): "` of the text and runs to the end of its line (what `otp_in` in the e2e tests
//! reads), and the command lines (`sealboost admin accept <channel> --otp <passphrase>`,
//! `sealboost proposals approve|reject <channel> <id>`) are never translated; only the
//! placeholder in `--as <your number>` is.

use std::fmt::Write as _;

use zeroize::Zeroizing;

use crate::vault::lifecycle::DiscardReason;
use crate::vault::model::Language;

use Language::{De, En, Es, Fr};

/// Which one-time passphrase a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passphrase {
    /// An invitation to become an admin (`admin add`, an ADD over Signal, `admin/resend`
    /// to a pending admin). The only kind whose command needs `--as`.
    Invite,
    /// ADMIN `removed` was removed and the channel re-keyed: the passphrase for the new key.
    Rekey { removed: u16 },
    /// `admin/resend` to an admin: the passphrase for the current key.
    Resend,
}

/// What a proposal would do, as its notice words it.
#[derive(Debug)]
pub(crate) enum Proposed {
    Rotate,
    /// Adding the number (E.164) as an admin.
    AddAdmin(Zeroizing<String>),
    RemoveAdmin(u16),
}

/// A lifecycle notice (no passphrase in it).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Notice<'a> {
    /// To the other admins: ADMIN `by` proposes `what`; how to approve or reject it.
    Proposed {
        by: u16,
        what: &'a Proposed,
        pid: u32,
        approvals: usize,
        needed: usize,
        channel: &'a str,
    },
    Discarded {
        pid: u32,
        reason: DiscardReason,
    },
    /// To the admin who removed ADMIN n (they already hold the new key).
    RemovedAndRekeyed(u16),
    /// To the removed admin.
    YouWereRemovedAdmin,
}

fn pick<'s>(l: Language, en: &'s str, es: &'s str, fr: &'s str, de: &'s str) -> &'s str {
    match l {
        En => en,
        Es => es,
        Fr => fr,
        De => de,
    }
}

/// Room for the longest lead and words of any language, besides the passphrase (twice)
/// and the channel id.
const PASSPHRASE_TEXT_ROOM: usize = 512;

/// A one-time passphrase message in `l`: why it comes, its lifetime in hours, the
/// passphrase, and the command that redeems it. Written into one buffer sized up front, so
/// no reallocation leaves a copy of the passphrase behind.
pub(crate) fn passphrase_text(
    l: Language,
    kind: Passphrase,
    channel_hex: &str,
    otp: &str,
    ttl_secs: u64,
) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(
        PASSPHRASE_TEXT_ROOM + 2 * otp.len() + channel_hex.len(),
    ));
    // Writing to a String cannot fail.
    let _ = match kind {
        Passphrase::Invite => text.write_str(pick(
            l,
            "You are invited to be an admin of this channel. Your one-time passphrase",
            "Te invitaron a ser admin de este canal. Tu contraseña de un solo uso",
            "Vous êtes invité·e à devenir admin de cette chaîne. Votre phrase de passe à usage unique",
            "Du wurdest eingeladen, Admin dieses Kanals zu werden. Deine Einmal-Passphrase",
        )),
        Passphrase::Rekey { removed: n } => match l {
            En => write!(text, "ADMIN {n} was removed and this channel was re-keyed. Your one-time passphrase for the new key"),
            Es => write!(text, "Se quitó a ADMIN {n} y este canal tiene ahora una clave nueva. Tu contraseña de un solo uso para la clave nueva"),
            Fr => write!(text, "ADMIN {n} a été retiré·e et cette chaîne a maintenant une nouvelle clé. Votre phrase de passe à usage unique pour la nouvelle clé"),
            De => write!(text, "ADMIN {n} wurde entfernt und dieser Kanal hat jetzt einen neuen Schlüssel. Deine Einmal-Passphrase für den neuen Schlüssel"),
        },
        Passphrase::Resend => text.write_str(pick(
            l,
            "Your one-time passphrase for this channel's current key",
            "Tu contraseña de un solo uso para la clave actual de este canal",
            "Votre phrase de passe à usage unique pour la clé actuelle de cette chaîne",
            "Deine Einmal-Passphrase für den aktuellen Schlüssel dieses Kanals",
        )),
    };
    let valid = pick(l, "valid", "válida", "valable", "gültig");
    let redeem = pick(
        l,
        "Redeem it with:",
        "Canjéala con:",
        "Utilisez-la avec :",
        "Einlösen mit:",
    );
    let _ = write!(
        text,
        " ({valid} {} h): {otp}\n{redeem} sealboost admin accept {channel_hex} --otp {otp}",
        ttl_secs.div_ceil(3600),
    );
    if kind == Passphrase::Invite {
        let _ = text.write_str(pick(
            l,
            " --as <your number>",
            " --as <tu número>",
            " --as <votre numéro>",
            " --as <deine Nummer>",
        ));
    }
    text
}

fn proposed(l: Language, what: &Proposed) -> Zeroizing<String> {
    Zeroizing::new(match what {
        Proposed::Rotate => pick(
            l,
            "to rotate the channel key",
            "cambiar la clave del canal",
            "de changer la clé de la chaîne",
            "den Kanalschlüssel zu erneuern",
        )
        .to_owned(),
        Proposed::AddAdmin(p) => {
            let p = p.as_str();
            match l {
                En => format!("to add {p} as an admin"),
                Es => format!("agregar a {p} como admin"),
                Fr => format!("d'ajouter {p} comme admin"),
                De => format!("{p} als Admin hinzuzufügen"),
            }
        }
        Proposed::RemoveAdmin(n) => match l {
            En => format!("to remove ADMIN {n} (the channel will be re-keyed)"),
            Es => format!("quitar a ADMIN {n} (el canal tendrá una clave nueva)"),
            Fr => format!("de retirer ADMIN {n} (la chaîne changera de clé)"),
            De => format!("ADMIN {n} zu entfernen (der Kanal bekommt dann einen neuen Schlüssel)"),
        },
    })
}

fn discard_reason(l: Language, reason: DiscardReason) -> &'static str {
    match reason {
        DiscardReason::Rejected => pick(
            l,
            "it can no longer reach its approvals",
            "ya no puede reunir las aprobaciones necesarias",
            "elle ne peut plus obtenir assez d'approbations",
            "er kann die nötigen Zustimmungen nicht mehr erreichen",
        ),
        DiscardReason::Expired => pick(
            l,
            "it expired",
            "caducó",
            "elle a expiré",
            "er ist abgelaufen",
        ),
        DiscardReason::Obsolete => pick(
            l,
            "what it would change has changed already",
            "lo que iba a cambiar ya cambió",
            "ce qu'elle devait changer a déjà changé",
            "was er ändern sollte, hat sich schon geändert",
        ),
    }
}

/// The text of `n` in `l`.
pub(crate) fn notice(l: Language, n: Notice<'_>) -> Zeroizing<String> {
    Zeroizing::new(match n {
        Notice::Proposed {
            by,
            what,
            pid,
            approvals,
            needed,
            channel: ch,
        } => {
            let what = proposed(l, what);
            let what = what.as_str();
            match l {
                En => format!("ADMIN {by} proposes {what} (proposal #{pid}, {approvals} of {needed} approvals).\nApprove: sealboost proposals approve {ch} {pid}\nReject: sealboost proposals reject {ch} {pid}"),
                Es => format!("ADMIN {by} propone {what} (propuesta #{pid}, {approvals} de {needed} aprobaciones).\nAprobar: sealboost proposals approve {ch} {pid}\nRechazar: sealboost proposals reject {ch} {pid}"),
                Fr => format!("ADMIN {by} propose {what} (proposition n°{pid}, {approvals} sur {needed} approbations).\nApprouver : sealboost proposals approve {ch} {pid}\nRefuser : sealboost proposals reject {ch} {pid}"),
                De => format!("ADMIN {by} schlägt vor, {what} (Vorschlag #{pid}, {approvals} von {needed} Zustimmungen).\nZustimmen: sealboost proposals approve {ch} {pid}\nAblehnen: sealboost proposals reject {ch} {pid}"),
            }
        }
        Notice::Discarded { pid, reason } => {
            let why = discard_reason(l, reason);
            match l {
                En => format!("Proposal #{pid} was discarded: {why}."),
                Es => format!("La propuesta #{pid} se descartó: {why}."),
                Fr => format!("La proposition n°{pid} a été abandonnée : {why}."),
                De => format!("Vorschlag #{pid} wurde verworfen: {why}."),
            }
        }
        Notice::RemovedAndRekeyed(n) => match l {
            En => format!("ADMIN {n} was removed and this channel was re-keyed."),
            Es => format!("Se quitó a ADMIN {n} y este canal tiene ahora una clave nueva."),
            Fr => format!("ADMIN {n} a été retiré·e et cette chaîne a maintenant une nouvelle clé."),
            De => format!("ADMIN {n} wurde entfernt und dieser Kanal hat jetzt einen neuen Schlüssel."),
        },
        Notice::YouWereRemovedAdmin => pick(
            l,
            "You were removed from this channel's admins and from the channel; its key was changed.",
            "Te quitaron de los admins de este canal y del canal; su clave cambió.",
            "Vous avez été retiré·e des admins de cette chaîne et de la chaîne ; sa clé a changé.",
            "Du wurdest als Admin und aus diesem Kanal entfernt; sein Schlüssel wurde geändert.",
        )
        .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LANGS: [Language; 4] = [En, Es, Fr, De];
    const CH: &str = "00112233445566778899aabbccddeeff";
    const OTP: &str = "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ-2345-6789";

    /// What the e2e tests' `otp_in` does: the text after the first "): " to the end of
    /// that line.
    fn otp_in(body: &str) -> Option<String> {
        let after = body.split("): ").nth(1)?;
        Some(after.split('\n').next()?.trim().to_owned())
    }

    fn kinds() -> [Passphrase; 3] {
        [
            Passphrase::Invite,
            Passphrase::Rekey { removed: 3 },
            Passphrase::Resend,
        ]
    }

    fn all_distinct(texts: &[String]) -> bool {
        texts
            .iter()
            .enumerate()
            .all(|(i, a)| texts[i + 1..].iter().all(|b| a != b))
    }

    #[test]
    fn every_passphrase_text_differs_per_language_and_carries_the_passphrase() {
        for kind in kinds() {
            let texts: Vec<String> = LANGS
                .iter()
                .map(|&l| passphrase_text(l, kind, CH, OTP, 86_400).to_string())
                .collect();
            assert!(all_distinct(&texts), "{kind:?}: {texts:?}");
            for t in &texts {
                assert_eq!(otp_in(t).as_deref(), Some(OTP), "{t}");
                assert!(t.contains("(") && t.contains(" 24 h): "), "{t}");
                let cmd = format!("sealboost admin accept {CH} --otp {OTP}");
                let line = t.lines().nth(1).unwrap();
                assert!(line.contains(&cmd), "{t}");
                assert_eq!(line.contains(" --as <"), kind == Passphrase::Invite, "{t}");
                assert_eq!(t.lines().count(), 2, "{t}");
            }
        }
        assert!(
            passphrase_text(Es, Passphrase::Rekey { removed: 7 }, CH, OTP, 3600)
                .starts_with("Se quitó a ADMIN 7 ")
        );
    }

    #[test]
    fn passphrase_text_is_written_without_reallocating() {
        for l in LANGS {
            for kind in [
                Passphrase::Invite,
                Passphrase::Rekey { removed: u16::MAX },
                Passphrase::Resend,
            ] {
                let t = passphrase_text(l, kind, CH, OTP, u64::MAX);
                let room = PASSPHRASE_TEXT_ROOM + 2 * OTP.len() + CH.len();
                assert_eq!(t.capacity(), room, "{l:?} {kind:?} grew");
                assert!(t.len() <= room);
            }
        }
    }

    #[test]
    fn every_notice_differs_per_language() {
        let add = Proposed::AddAdmin(Zeroizing::new("+15550001234".to_owned()));
        let mut notices = vec![Notice::RemovedAndRekeyed(4), Notice::YouWereRemovedAdmin];
        for what in [&Proposed::Rotate, &add, &Proposed::RemoveAdmin(2)] {
            notices.push(Notice::Proposed {
                by: 1,
                what,
                pid: 9,
                approvals: 1,
                needed: 2,
                channel: CH,
            });
        }
        for reason in [
            DiscardReason::Rejected,
            DiscardReason::Expired,
            DiscardReason::Obsolete,
        ] {
            notices.push(Notice::Discarded { pid: 9, reason });
        }
        for n in notices {
            let texts: Vec<String> = LANGS.iter().map(|&l| notice(l, n).to_string()).collect();
            assert!(all_distinct(&texts), "{n:?}: {texts:?}");
            for t in &texts {
                assert!(!t.is_empty() && !t.contains('{'), "{t}");
                if let Notice::Proposed { .. } = n {
                    assert!(
                        t.contains(&format!("sealboost proposals approve {CH} 9")),
                        "{t}"
                    );
                    assert!(
                        t.contains(&format!("sealboost proposals reject {CH} 9")),
                        "{t}"
                    );
                }
            }
        }
        // The English texts stay as the e2e tests read them.
        assert_eq!(
            notice(
                En,
                Notice::Discarded {
                    pid: 5,
                    reason: DiscardReason::Rejected
                }
            )
            .as_str(),
            "Proposal #5 was discarded: it can no longer reach its approvals."
        );
        assert!(notice(
            En,
            Notice::Proposed {
                by: 1,
                what: &Proposed::Rotate,
                pid: 2,
                approvals: 1,
                needed: 2,
                channel: CH
            }
        )
        .starts_with(
            "ADMIN 1 proposes to rotate the channel key (proposal #2, 1 of 2 approvals)."
        ));
        assert!(notice(
            De,
            Notice::Proposed {
                by: 1,
                what: &add,
                pid: 2,
                approvals: 1,
                needed: 2,
                channel: CH
            }
        )
        .contains("+15550001234 als Admin hinzuzufügen"));
    }
}
