//! Every channel command in every language, end to end over real Signal: host + simulated
//! enclave + signal-sim + simulated phones + the admin CLI, once per language (EN, ES, FR,
//! DE; one test each, so they run in parallel).
//!
//! The keywords come from the relay's embedded `keywords.json` (the same file as
//! `../shared/reference/signalboost-command-keywords.json`): each test sends every keyword
//! that file lists for its language (the `!`, `~`, `@` sigils included), and fails if one
//! went unsent. Commands that can be repeated are sent once per word; one phone joins and
//! leaves with every JOIN and LEAVE word; the commands that cannot be repeated (INVITE,
//! ACCEPT, DECLINE, BAN, REMOVE of a subscriber) have one word each in these languages.
//! CONFIRM DESTROY's words are shown to be recognised by sending each with text after it
//! (refused: the command takes no text) before the bare first word ends the channel.
//!
//! Every answer must reach the right phone word for word in the right language (the texts
//! below are the relay's catalogue, `enclave/src/relay/strings.rs`), and each command must
//! have its effect: a removed or banned member gets nothing more, a banned sender's text
//! reaches no admin, the hotline off refuses, vouching and its level gate JOIN and ACCEPT,
//! DECLINE drops the invite, a subscriber's admin-only command is hotline text, CONFIRM
//! DESTROY ends the channel. At the end no phone holds a message the test did not expect,
//! and nothing an admin saw names a subscriber. The admin CLI's `sealboost private` and
//! `sealboost reply` are checked in each language too (their receipt printed in the admin's
//! language).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sealboost_tests::signal::{bodies, otp_in, AdminCli, Handset, World};

const WAIT: Duration = Duration::from_secs(20);
/// How long a phone listens to show that nothing more reaches it.
const QUIET: Duration = Duration::from_millis(1500);
const KEYWORDS_JSON: &str = include_str!("../../enclave/src/relay/keywords.json");
const LANGS: [&str; 4] = ["EN", "ES", "FR", "DE"];
/// The JSON's commands this relay answers with "not available here" (relay module doc).
const UNSUPPORTED: [&str; 3] = ["CHANNEL", "REQUEST", "RESTART"];

/// The relay's texts (`enclave/src/relay/strings.rs`) in EN, ES, FR, DE; `{name}` marks a
/// parameter.
const TEXTS: &[(&str, [&str; 4])] = &[
    (
        "BroadcastHeader",
        [
            "[BROADCAST FROM ADMIN {n}]",
            "[TRANSMISIÓN DE ADMIN {n}]",
            "[DIFFUSION DE ADMIN {n}]",
            "[SENDUNG VON ADMIN {n}]",
        ],
    ),
    (
        "BroadcastSent",
        [
            "Broadcast sent to {subscribers} subscribers and {admins} other admins.",
            "Transmisión enviada a {subscribers} suscriptores y {admins} otros admins.",
            "Diffusion envoyée à {subscribers} abonné·es et {admins} autres admins.",
            "Sendung an {subscribers} Abonnent*innen und {admins} weitere Admins geschickt.",
        ],
    ),
    (
        "PrivateHeader",
        [
            "[PRIVATE FROM ADMIN {n}]",
            "[PRIVADO DE ADMIN {n}]",
            "[PRIVÉ DE ADMIN {n}]",
            "[PRIVAT VON ADMIN {n}]",
        ],
    ),
    (
        "PrivateSent",
        [
            "Private message sent to {admins} other admins.",
            "Mensaje privado enviado a {admins} otros admins.",
            "Message privé envoyé à {admins} autres admins.",
            "Private Nachricht an {admins} weitere Admins geschickt.",
        ],
    ),
    (
        "HotlineHeader",
        [
            "[HOTLINE FROM @{id}]",
            "[LÍNEA DIRECTA DE @{id}]",
            "[HOTLINE DE @{id}]",
            "[HOTLINE VON @{id}]",
        ],
    ),
    (
        "HotlineForwarded",
        [
            "Your message went to the channel's admins. They can answer you here; your number stays hidden from them.",
            "Tu mensaje llegó a los admins del canal. Pueden responderte aquí; tu número sigue oculto para ellos.",
            "Votre message a été transmis aux admins de la chaîne. Ils peuvent vous répondre ici ; votre numéro leur reste caché.",
            "Deine Nachricht ging an die Admins des Kanals. Sie können dir hier antworten; deine Nummer bleibt ihnen verborgen.",
        ],
    ),
    (
        "HotlineOff",
        [
            "Sorry, this channel does not take incoming messages. Send HELP for what you can do.",
            "Lo siento, este canal no recibe mensajes. Envía AYUDA para ver qué puedes hacer.",
            "Désolé, cette chaîne ne reçoit pas de messages. Envoyez AIDE pour voir ce que vous pouvez faire.",
            "Leider nimmt dieser Kanal keine Nachrichten an. Sende HILFE, um zu sehen, was du tun kannst.",
        ],
    ),
    (
        "ReplyToSenderHeader",
        [
            "[REPLY FROM THE ADMINS]",
            "[RESPUESTA DE LOS ADMINS]",
            "[RÉPONSE DES ADMINS]",
            "[ANTWORT DER ADMINS]",
        ],
    ),
    (
        "ReplyCopyHeader",
        [
            "[REPLY TO @{id} FROM ADMIN {by}]",
            "[RESPUESTA A @{id} DE ADMIN {by}]",
            "[RÉPONSE À @{id} DE ADMIN {by}]",
            "[ANTWORT AN @{id} VON ADMIN {by}]",
        ],
    ),
    (
        "ReplySent",
        [
            "Reply sent to @{id}.",
            "Respuesta enviada a @{id}.",
            "Réponse envoyée à @{id}.",
            "Antwort an @{id} geschickt.",
        ],
    ),
    (
        "DidYouMeanBroadcast",
        [
            "Did you mean to broadcast? Start your message with BROADCAST (or !). Send HELP for all commands.",
            "¿Querías transmitir? Empieza tu mensaje con TRANSMITIR (o !). Envía AYUDA para ver los comandos.",
            "Vouliez-vous diffuser ? Commencez votre message par DIFFUSER (ou !). Envoyez AIDE pour les commandes.",
            "Wolltest du senden? Beginne deine Nachricht mit SENDEN (oder !). Sende HILFE für alle Befehle.",
        ],
    ),
    (
        "Unsupported",
        [
            "That command is not available on this channel. Send HELP for the commands.",
            "Ese comando no está disponible en este canal. Envía AYUDA para ver los comandos.",
            "Cette commande n'est pas disponible sur cette chaîne. Envoyez AIDE pour les commandes.",
            "Dieser Befehl ist in diesem Kanal nicht verfügbar. Sende HILFE für die Befehle.",
        ],
    ),
    (
        "YouWereRemoved",
        [
            "You were removed from this channel.",
            "Te quitaron de este canal.",
            "Vous avez été retiré·e de cette chaîne.",
            "Du wurdest aus diesem Kanal entfernt.",
        ],
    ),
    (
        "YouRemovedSubscriber",
        [
            "You removed a subscriber.",
            "Quitaste a un suscriptor.",
            "Vous avez retiré un·e abonné·e.",
            "Du hast eine*n Abonnent*in entfernt.",
        ],
    ),
    (
        "AdminRemovedSubscriber",
        [
            "ADMIN {by} removed a subscriber.",
            "ADMIN {by} quitó a un suscriptor.",
            "ADMIN {by} a retiré un·e abonné·e.",
            "ADMIN {by} hat eine*n Abonnent*in entfernt.",
        ],
    ),
    (
        "YouBanned",
        [
            "@{id} is banned: their messages will no longer reach you.",
            "@{id} está prohibido: sus mensajes ya no te llegarán.",
            "@{id} est interdit·e : ses messages ne vous parviendront plus.",
            "@{id} ist gesperrt: Nachrichten von dort erreichen euch nicht mehr.",
        ],
    ),
    (
        "AdminBanned",
        [
            "ADMIN {by} banned @{id}.",
            "ADMIN {by} prohibió a @{id}.",
            "ADMIN {by} a interdit @{id}.",
            "ADMIN {by} hat @{id} gesperrt.",
        ],
    ),
    (
        "YouAreBanned",
        [
            "An admin has blocked your messages to this channel.",
            "Un admin bloqueó tus mensajes a este canal.",
            "Un·e admin a bloqué vos messages vers cette chaîne.",
            "Ein Admin hat deine Nachrichten an diesen Kanal gesperrt.",
        ],
    ),
    (
        "Welcome",
        [
            "Welcome! You are subscribed to this channel. Send HELP for commands, LEAVE to unsubscribe.",
            "¡Bienvenida/o! Te suscribiste a este canal. Envía AYUDA para los comandos, ADIÓS para salir.",
            "Bienvenue ! Vous êtes abonné·e à cette chaîne. Envoyez AIDE pour les commandes, AUREVOIR pour partir.",
            "Willkommen! Du hast diesen Kanal abonniert. Sende HILFE für die Befehle, TSCHÜSS zum Abmelden.",
        ],
    ),
    (
        "InviteRequired",
        [
            "This channel requires an invite: {needed} needed, you have {have}. Ask a member to INVITE you.",
            "Este canal requiere una invitación: se necesitan {needed}, tienes {have}. Pide a un miembro que te invite (INVITAR).",
            "Cette chaîne exige une invitation : {needed} nécessaires, vous en avez {have}. Demandez à un membre de vous inviter (INVITER).",
            "Dieser Kanal erfordert eine Einladung: {needed} nötig, du hast {have}. Bitte ein Mitglied, dich einzuladen (EINLADEN).",
        ],
    ),
    (
        "Left",
        [
            "You have left this channel. Goodbye!",
            "Saliste de este canal. ¡Adiós!",
            "Vous avez quitté cette chaîne. Au revoir !",
            "Du hast diesen Kanal verlassen. Tschüss!",
        ],
    ),
    (
        "InviteIssued",
        [
            "Invite issued.",
            "Invitación emitida.",
            "Invitation envoyée.",
            "Einladung verschickt.",
        ],
    ),
    (
        "InviteAdminsOnly",
        [
            "Sorry, on this channel only admins can invite.",
            "Lo siento, en este canal solo los admins pueden invitar.",
            "Désolé, sur cette chaîne seuls les admins peuvent inviter.",
            "Leider können in diesem Kanal nur Admins einladen.",
        ],
    ),
    (
        "Invited",
        [
            "You have been invited to a Signal channel ({have} of {needed} invites needed). Reply ACCEPT to join or DECLINE to refuse.",
            "Te invitaron a un canal de Signal ({have} de {needed} invitaciones necesarias). Responde ACEPTAR para unirte o RECHAZAR para rehusar.",
            "Vous êtes invité·e à une chaîne Signal ({have} sur {needed} invitations nécessaires). Répondez ACCEPTER pour la rejoindre ou REFUSER.",
            "Du wurdest in einen Signal-Kanal eingeladen ({have} von {needed} nötigen Einladungen). Antworte ANNEHMEN zum Beitreten oder ABLEHNEN.",
        ],
    ),
    (
        "NoInvite",
        [
            "You have no pending invite to this channel.",
            "No tienes ninguna invitación pendiente a este canal.",
            "Vous n'avez pas d'invitation en attente pour cette chaîne.",
            "Du hast keine offene Einladung zu diesem Kanal.",
        ],
    ),
    (
        "Declined",
        [
            "Invite declined. You will not be added.",
            "Invitación rechazada. No se te agregará.",
            "Invitation refusée. Vous ne serez pas ajouté·e.",
            "Einladung abgelehnt. Du wirst nicht hinzugefügt.",
        ],
    ),
    (
        "DestroyAsk",
        [
            "This deletes the channel and everything it stores, for good. To go ahead, send CONFIRM DESTROY.",
            "Esto borra el canal y todo lo que guarda, para siempre. Para seguir, envía CONFIRMAR DESTRUIR.",
            "Cela supprime la chaîne et tout ce qu'elle conserve, définitivement. Pour continuer, envoyez CONFIRMER DÉTRUIRE.",
            "Das löscht den Kanal und alles Gespeicherte endgültig. Zum Fortfahren sende BESTÄTIGEN VERNICHTEN.",
        ],
    ),
    (
        "Destroyed",
        [
            "This channel has been shut down by its admins and will no longer send or receive messages.",
            "Los admins cerraron este canal; ya no enviará ni recibirá mensajes.",
            "Les admins ont fermé cette chaîne ; elle n'enverra ni ne recevra plus de messages.",
            "Die Admins haben diesen Kanal geschlossen; er sendet und empfängt keine Nachrichten mehr.",
        ],
    ),
    (
        "HelpAdmin",
        [
            "Admin commands:\n! or BROADCAST text: to everyone\n~ or PRIVATE text: to the admins\n@id text or REPLY @id text: answer a hotline message\nADD +number / REMOVE +number\nBAN @id\nHOTLINE ON / OFF\nVOUCHING ON / OFF / ADMIN\nVOUCH LEVEL n\nINVITE +number, +number\nINFO, HELP, LEAVE\nDESTROY\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Comandos de admin:\n! o TRANSMITIR texto: a todos\n~ o PRIVADO texto: a los admins\n@id texto o RESPONDER @id texto: responder a la línea directa\nAGREGAR +número / QUITAR +número\nPROHIBIR @id\nLÍNEA DIRECTA ACTIVADA / DESACTIVADA\nATESTIGUANDO ACTIVADA / DESACTIVADA / ADMIN\nNIVEL DE ATESTIGUAR n\nINVITAR +número, +número\nINFO, AYUDA, ADIÓS\nDESTRUIR\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Commandes d'admin :\n! ou DIFFUSER texte : à tout le monde\n~ ou PRIVÉ texte : aux admins\n@id texte ou RÉPONDRE @id texte : répondre à la hotline\nAJOUTER +numéro / SUPPRIMER +numéro\nINTERDIRE @id\nHOTLINE ACTIVÉE / DÉSACTIVÉE\nSE PORTER GARANT ACTIVÉE / DÉSACTIVÉE / ADMIN\nNIVEAU DE PORTER GARANT n\nINVITER +numéro, +numéro\nINFO, AIDE, AUREVOIR\nDÉTRUIRE\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Admin-Befehle:\n! oder SENDEN Text: an alle\n~ oder PRIVAT Text: an die Admins\n@id Text oder ANTWORTEN @id Text: Hotline beantworten\nHINZUFÜGEN +Nummer / ENTFERNEN +Nummer\nVERBIETEN @id\nHOTLINE AN / AUS\nVERTRAUEN AN / AUS / ADMIN\nVERTRAUENS-LEVEL n\nEINLADEN +Nummer, +Nummer\nINFO, HILFE, TSCHÜSS\nVERNICHTEN\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
        ],
    ),
    (
        "HelpMember",
        [
            "Commands:\nHELLO: subscribe\nGOODBYE: unsubscribe\nINFO: about this channel\nINVITE +number: invite someone\nACCEPT / DECLINE: answer an invite\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: language\nAnything else you send goes to the admins, without your number.",
            "Comandos:\nHOLA: suscribirte\nADIÓS: salir\nINFO: sobre este canal\nINVITAR +número: invitar a alguien\nACEPTAR / RECHAZAR: responder a una invitación\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: idioma\nTodo lo demás que envíes llega a los admins, sin tu número.",
            "Commandes :\nBONJOUR : s'abonner\nAUREVOIR : se désabonner\nINFO : à propos de cette chaîne\nINVITER +numéro : inviter quelqu'un\nACCEPTER / REFUSER : répondre à une invitation\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH : langue\nTout autre message va aux admins, sans votre numéro.",
            "Befehle:\nHALLO: abonnieren\nTSCHÜSS: abmelden\nINFO: über diesen Kanal\nEINLADEN +Nummer: jemanden einladen\nANNEHMEN / ABLEHNEN: auf eine Einladung antworten\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: Sprache\nAlles andere geht an die Admins, ohne deine Nummer.",
        ],
    ),
    (
        "LanguageSet",
        [
            "I will talk to you in English from now on.",
            "A partir de ahora te hablaré en español.",
            "Je vous parlerai désormais en français.",
            "Ich schreibe dir ab jetzt auf Deutsch.",
        ],
    ),
    (
        // The start of the one-time passphrase message (`relay/lifecycle_strings.rs`), in
        // the language of the admin whose ADD enacted it.
        "Invitation",
        [
            "You are invited to be an admin of this channel. Your one-time passphrase (valid 24 h): ",
            "Te invitaron a ser admin de este canal. Tu contraseña de un solo uso (válida 24 h): ",
            "Vous êtes invité·e à devenir admin de cette chaîne. Votre phrase de passe à usage unique (valable 24 h): ",
            "Du wurdest eingeladen, Admin dieses Kanals zu werden. Deine Einmal-Passphrase (gültig 24 h): ",
        ],
    ),
    (
        "AddInviting",
        [
            "A one-time passphrase is on its way to that number over Signal. They become an admin when their sealboost client redeems it (sealboost admin accept).",
            "Una contraseña de un solo uso va en camino a ese número por Signal. Será admin cuando su cliente sealboost la canjee (sealboost admin accept).",
            "Une phrase de passe à usage unique part vers ce numéro par Signal. La personne devient admin quand son client sealboost l'utilise (sealboost admin accept).",
            "Eine Einmal-Passphrase ist per Signal unterwegs an diese Nummer. Sie wird Admin, sobald ihr sealboost-Client sie einlöst (sealboost admin accept).",
        ],
    ),
    (
        "RemoveAdminUseClient",
        [
            "Removing ADMIN {n} re-keys the channel, so it is done from a sealboost client: sealboost admin remove (votes apply). Nothing was changed.",
            "Quitar a ADMIN {n} cambia la clave del canal, así que se hace desde un cliente sealboost: sealboost admin remove (se aplican las votaciones). No se cambió nada.",
            "Retirer ADMIN {n} change la clé de la chaîne, cela se fait donc depuis un client sealboost : sealboost admin remove (les votes s'appliquent). Rien n'a été modifié.",
            "ADMIN {n} zu entfernen erneuert den Schlüssel des Kanals und geschieht daher mit einem sealboost-Client: sealboost admin remove (Abstimmungen gelten). Nichts wurde geändert.",
        ],
    ),
    (
        "AdminLeaveUseClient",
        [
            "Admins hold the channel key, so an admin leaves by being removed, which re-keys the channel: ask another admin to run sealboost admin remove with your number. You are still an admin.",
            "Los admins tienen la clave del canal, así que un admin sale cuando otro lo quita, lo que cambia la clave: pide a otro admin que ejecute sealboost admin remove con tu número. Sigues siendo admin.",
            "Les admins détiennent la clé de la chaîne : un·e admin part en étant retiré·e, ce qui change la clé. Demandez à un·e autre admin de lancer sealboost admin remove avec votre numéro. Vous êtes toujours admin.",
            "Admins halten den Kanalschlüssel, daher verlässt ein Admin den Kanal, indem er entfernt wird, was den Schlüssel erneuert: bitte einen anderen Admin, sealboost admin remove mit deiner Nummer auszuführen. Du bist weiterhin Admin.",
        ],
    ),
    (
        "AdminAsksToLeave",
        [
            "ADMIN {n} asked to leave the channel. Remove them with sealboost admin remove (this re-keys the channel).",
            "ADMIN {n} pidió salir del canal. Quítalo con sealboost admin remove (esto cambia la clave del canal).",
            "ADMIN {n} a demandé à quitter la chaîne. Retirez ADMIN {n} avec sealboost admin remove (cela change la clé de la chaîne).",
            "ADMIN {n} möchte den Kanal verlassen. Entferne ADMIN {n} mit sealboost admin remove (das erneuert den Kanalschlüssel).",
        ],
    ),
    (
        "UnexpectedText",
        [
            "That command takes no text after it. To send a message to everyone, start it with BROADCAST.",
            "Ese comando no lleva texto detrás. Para enviar un mensaje a todos, empieza con TRANSMITIR.",
            "Cette commande ne prend pas de texte. Pour écrire à tout le monde, commencez par DIFFUSER.",
            "Dieser Befehl nimmt keinen Text an. Für eine Nachricht an alle beginne mit SENDEN.",
        ],
    ),
    (
        "AlreadyAdmin",
        [
            "That number is already ADMIN {n}.",
            "Ese número ya es ADMIN {n}.",
            "Ce numéro est déjà ADMIN {n}.",
            "Diese Nummer ist bereits ADMIN {n}.",
        ],
    ),
    ("On", ["on", "activada", "activée", "an"]),
    ("Off", ["off", "desactivada", "désactivée", "aus"]),
    (
        "AdminsOnly",
        ["admins only", "solo admins", "admins seulement", "nur Admins"],
    ),
    ("Week", ["1 week", "1 semana", "1 semaine", "1 Woche"]),
    (
        "HotlineChange",
        [
            "the hotline {v}",
            "la línea directa {v}",
            "la hotline {v}",
            "die Hotline {v}",
        ],
    ),
    (
        "VouchingChange",
        [
            "vouching: {v}",
            "atestiguando: {v}",
            "se porter garant : {v}",
            "Vertrauen: {v}",
        ],
    ),
    (
        "VouchLevelChange",
        [
            "vouch level {n}",
            "nivel de atestiguar {n}",
            "niveau de porter garant {n}",
            "Vertrauens-Level {n}",
        ],
    ),
    (
        "Done",
        ["Done: {w}.", "Hecho: {w}.", "C'est fait : {w}.", "Erledigt: {w}."],
    ),
    (
        "Changed",
        [
            "ADMIN {n} changed a setting: {w}.",
            "ADMIN {n} cambió un ajuste: {w}.",
            "ADMIN {n} a modifié un réglage : {w}.",
            "ADMIN {n} hat eine Einstellung geändert: {w}.",
        ],
    ),
    (
        "InfoAdmin",
        [
            "Subscribers: {subscribers}\nAdmins: {admins}\nHotline: {h}\nVouching: {vm} (level {level})\nDisappearing messages: {d}",
            "Suscriptores: {subscribers}\nAdmins: {admins}\nLínea directa: {h}\nAtestiguando: {vm} (nivel {level})\nMensajes temporales: {d}",
            "Abonné·es : {subscribers}\nAdmins : {admins}\nHotline : {h}\nSe porter garant : {vm} (niveau {level})\nMessages éphémères : {d}",
            "Abonnent*innen: {subscribers}\nAdmins: {admins}\nHotline: {h}\nVertrauen: {vm} (Level {level})\nVerschwindende Nachrichten: {d}",
        ],
    ),
    (
        "InfoSubscribed",
        [
            "You are subscribed.\nHotline: {h}\nDisappearing messages: {d}",
            "Estás suscrito/a.\nLínea directa: {h}\nMensajes temporales: {d}",
            "Vous êtes abonné·e.\nHotline : {h}\nMessages éphémères : {d}",
            "Du hast abonniert.\nHotline: {h}\nVerschwindende Nachrichten: {d}",
        ],
    ),
];

/// One language: its keywords (from the JSON) and its texts. Records which commands were
/// used, so a test can prove it sent every command the JSON lists.
struct Lang {
    i: usize,
    commands: BTreeMap<String, Vec<String>>,
    /// (command, word) pairs sent.
    used: RefCell<BTreeSet<(String, String)>>,
}

impl Lang {
    fn new(i: usize) -> Lang {
        let v: serde_json::Value = serde_json::from_str(KEYWORDS_JSON).unwrap();
        let commands = serde_json::from_value(v["commands"][LANGS[i]].clone()).unwrap();
        Lang {
            i,
            commands,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    fn name(&self) -> &'static str {
        LANGS[self.i]
    }

    fn listed(&self, command: &str) -> &[String] {
        self.commands
            .get(command)
            .unwrap_or_else(|| panic!("{} has no {command}", self.name()))
    }

    fn mark(&self, command: &str, word: &str) -> String {
        self.used
            .borrow_mut()
            .insert((command.to_owned(), word.to_owned()));
        word.to_owned()
    }

    /// Every keyword the JSON lists for `command` in this language.
    fn all(&self, command: &str) -> Vec<String> {
        self.listed(command)
            .iter()
            .map(|w| self.mark(command, w))
            .collect()
    }

    /// Every keyword of `command` that is a word (not a sigil).
    fn words(&self, command: &str) -> Vec<String> {
        self.listed(command)
            .iter()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .map(|w| self.mark(command, w))
            .collect()
    }

    /// The first word (not a sigil) the JSON lists for `command`.
    fn kw(&self, command: &str) -> String {
        let first = self
            .listed(command)
            .iter()
            .find(|k| k.chars().any(char::is_alphanumeric))
            .unwrap();
        self.mark(command, first)
    }

    /// `command`'s sigil (`!`, `~`, `@`).
    fn sigil(&self, command: &str) -> String {
        let sigil = self
            .listed(command)
            .iter()
            .find(|k| !k.chars().any(char::is_alphanumeric))
            .unwrap();
        self.mark(command, sigil)
    }

    /// `KEYWORD arg`.
    fn cmd(&self, command: &str, arg: &str) -> String {
        format!("{} {arg}", self.kw(command))
    }

    /// Fails unless every keyword the JSON lists for this language was sent.
    fn assert_all_used(&self) {
        let listed: BTreeSet<(String, String)> = self
            .commands
            .iter()
            .flat_map(|(c, words)| words.iter().map(|w| (c.clone(), w.clone())))
            .collect();
        let used = self.used.borrow();
        let missing: Vec<_> = listed.difference(&used).collect();
        assert!(
            missing.is_empty(),
            "{}: never sent {missing:?}",
            self.name()
        );
    }

    /// The relay's text `key` in this language with `{name}` parameters filled in.
    fn t(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let (_, texts) = TEXTS
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("no text {key}"));
        let mut s = texts[self.i].to_owned();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), &value.to_string());
        }
        assert!(!s.contains('{'), "{key}: unfilled parameter in {s:?}");
        s
    }

    /// "Done: …." / "ADMIN n changed a setting: …." for a setting change `what`.
    fn done(&self, what: &str) -> String {
        self.t("Done", &[("w", &what)])
    }
    fn changed(&self, by: u16, what: &str) -> String {
        self.t("Changed", &[("n", &by), ("w", &what)])
    }
    fn hotline(&self, on: bool) -> String {
        let v = self.t(if on { "On" } else { "Off" }, &[]);
        self.t("HotlineChange", &[("v", &v)])
    }
    fn vouching(&self, mode: &str) -> String {
        let v = self.t(mode, &[]);
        self.t("VouchingChange", &[("v", &v)])
    }
}

/// A registered phone with this file's waits.
async fn handset(w: &World, number: &str) -> Handset {
    Handset::register(&w.sim.info, number)
        .await
        .waits(WAIT, QUIET)
}

/// `h` sends `text` to the channel `to`, and it is counted in `queued`.
async fn say(h: &mut Handset, to: &str, queued: &mut u64, text: &str) {
    Box::pin(h.p.send_text(to, text)).await.unwrap();
    *queued += 1;
}

/// The bodies not taken by any check, after listening for [`QUIET`] more.
async fn leftovers(h: &mut Handset) -> Vec<String> {
    bodies(&h.quiet().await)
}

/// The hotline id in `body`, whose first line must be this language's hotline header.
fn hotline_id(l: &Lang, body: &str) -> u32 {
    let template = TEXTS.iter().find(|(k, _)| *k == "HotlineHeader").unwrap().1[l.i];
    let (pre, post) = template.split_once("{id}").unwrap();
    let head = body.split('\n').next().unwrap();
    head.strip_prefix(pre)
        .and_then(|r| r.strip_suffix(post))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a hotline message: {body:?}"))
}

/// Phone number `n` of the test for language `i`: `+1555`, `i + 1`, `n` in six digits.
fn number(i: usize, n: u32) -> String {
    format!("+1555{}{n:06}", i + 1)
}

/// The whole command set over Signal with language `i`'s keywords.
async fn every_command(i: usize) {
    const WEEK: u32 = 7 * 24 * 3600;
    let l = Lang::new(i);
    let other = Lang::new((i + 1) % LANGS.len());
    let lang = l.name();
    let [a1n, a2n, s1n, s2n, s3n, s4n, outn, out2n, strangern, channel] =
        [1, 2, 11, 12, 13, 14, 21, 22, 23, 9000].map(|n| number(i, n));
    let ch_no = channel.as_str();
    let w = World::bare(&a1n, ch_no, &["--rate-burst", "0"]);
    let ch = w.ch.clone();
    let mut cli_seen: Vec<String> = Vec::new();
    let mut a1 = handset(&w, &a1n).await;
    let mut a2 = handset(&w, &a2n).await;
    let mut s1 = handset(&w, &s1n).await;
    let mut s2 = handset(&w, &s2n).await;
    let mut s3 = handset(&w, &s3n).await;
    let mut s4 = handset(&w, &s4n).await;
    let mut out = handset(&w, &outn).await;
    let mut out2 = handset(&w, &out2n).await;
    let mut stranger = handset(&w, &strangern).await;
    let process = |n: u64, cli_seen: &mut Vec<String>| {
        let v = w.process(n);
        assert_eq!(v["stats"]["failed"], 0, "{v}");
        assert_eq!(v["stats"]["rejected"], 0, "{v}");
        cli_seen.push(v.to_string());
        v
    };

    // Phase 1: joining and leaving, switching language, HELP, INFO, ADD, the unsupported
    // commands and a hotline message. Commands that change nothing (or that can be undone in
    // the same phase) are sent with every word the JSON lists for them.
    let mut n = 0;
    say(&mut a1, ch_no, &mut n, &l.kw("SET_LANGUAGE")).await;
    say(&mut s1, ch_no, &mut n, &l.kw("JOIN")).await;
    say(&mut s2, ch_no, &mut n, &l.kw("JOIN")).await;
    // S3 joins in another language, then switches with each of this language's words.
    say(&mut s3, ch_no, &mut n, &other.kw("JOIN")).await;
    let switches = l.all("SET_LANGUAGE");
    for word in &switches {
        say(&mut s3, ch_no, &mut n, word).await;
    }
    // S4 joins and leaves with every JOIN and LEAVE word.
    let (joins, leaves) = (l.all("JOIN"), l.all("LEAVE"));
    let rounds = joins.len().max(leaves.len());
    for k in 0..rounds {
        say(&mut s4, ch_no, &mut n, &joins[k % joins.len()]).await;
        say(&mut s4, ch_no, &mut n, &leaves[k % leaves.len()]).await;
    }
    let helps = l.all("HELP");
    for word in &helps {
        say(&mut s1, ch_no, &mut n, word).await;
        say(&mut a1, ch_no, &mut n, word).await;
    }
    let infos = l.all("INFO");
    for word in &infos {
        say(&mut s2, ch_no, &mut n, word).await;
    }
    say(&mut a1, ch_no, &mut n, &l.cmd("ADD", &a2n)).await;
    let mut unsupported = 0;
    for c in UNSUPPORTED {
        for word in l.all(c) {
            say(&mut a1, ch_no, &mut n, &word).await;
            unsupported += 1;
        }
    }
    let question = format!("Wombat question in {lang}?");
    say(&mut s1, ch_no, &mut n, &question).await;
    process(n, &mut cli_seen);

    a1.expect_exact(&l.t("LanguageSet", &[])).await;
    for p in [&mut s1, &mut s2] {
        p.expect_exact(&l.t("Welcome", &[])).await;
        p.expect_timer(WEEK).await;
    }
    s3.expect_exact(&other.t("Welcome", &[])).await;
    s3.expect_timer(WEEK).await;
    for _ in &switches {
        s3.expect_exact(&l.t("LanguageSet", &[])).await;
    }
    for _ in 0..rounds {
        s4.expect_exact(&l.t("Welcome", &[])).await;
        s4.expect_timer(WEEK).await;
        s4.expect_exact(&l.t("Left", &[])).await;
    }
    for _ in &helps {
        s1.expect_exact(&l.t("HelpMember", &[])).await;
        a1.expect_exact(&l.t("HelpAdmin", &[])).await;
    }
    let week = l.t("Week", &[]);
    let on = l.t("On", &[]);
    for _ in &infos {
        s2.expect_exact(&l.t("InfoSubscribed", &[("h", &on), ("d", &week)]))
            .await;
    }
    a1.expect_exact(&l.t("AddInviting", &[])).await;
    for _ in 0..unsupported {
        a1.expect_exact(&l.t("Unsupported", &[])).await;
    }
    s1.expect_exact(&l.t("HotlineForwarded", &[])).await;
    let id1 = hotline_id(&l, &a1.expect_ending(&format!("\n{question}")).await);

    // The ADD over Signal ends in a one-time passphrase, in A1's language, that A2's own
    // client redeems.
    let invite = a2
        .take("one-time passphrase", |m| {
            m.body
                .as_deref()
                .is_some_and(|b| b.contains("sealboost admin accept"))
        })
        .await;
    let invite = invite.body.as_deref().unwrap();
    assert!(invite.starts_with(&l.t("Invitation", &[])), "{invite}");
    let otp = otp_in(invite).unwrap();
    let v = AdminCli::new(&w.stack).accept(&ch, &otp, &a2n);
    assert_eq!(v["admin_index"], 2, "{v}");

    // Phase 2: broadcast, private, reply, ADD and REMOVE, LEAVE by an admin, BAN, the
    // hotline switch, vouching, invites, INFO, DESTROY; every word of each, where the effect
    // allows.
    let mut n = 0;
    say(&mut a2, ch_no, &mut n, &l.kw("SET_LANGUAGE")).await;
    // Each BROADCAST / PRIVATE / REPLY word, then the sigil (`!text`, `~ text`, `@id text`).
    let mut broadcasts = Vec::new();
    for word in l.words("BROADCAST") {
        let text = format!("Capybara news {} in {lang}", broadcasts.len());
        say(&mut a1, ch_no, &mut n, &format!("{word} {text}")).await;
        broadcasts.push(text);
    }
    let text = format!("Capybara news by sigil in {lang}");
    say(
        &mut a1,
        ch_no,
        &mut n,
        &format!("{}{text}", l.sigil("BROADCAST")),
    )
    .await;
    broadcasts.push(text);
    let mut privates = Vec::new();
    for word in l.words("PRIVATE") {
        let text = format!("Admins only, okapi {} in {lang}", privates.len());
        say(&mut a1, ch_no, &mut n, &format!("{word} {text}")).await;
        privates.push(text);
    }
    let text = format!("Admins only, okapi by sigil in {lang}");
    say(
        &mut a1,
        ch_no,
        &mut n,
        &format!("{} {text}", l.sigil("PRIVATE")),
    )
    .await;
    privates.push(text);
    let mut replies_by_a2 = Vec::new();
    for word in l.words("REPLY") {
        let text = format!("Ramps everywhere {} in {lang}", replies_by_a2.len());
        say(&mut a2, ch_no, &mut n, &format!("{word} @{id1} {text}")).await;
        replies_by_a2.push(text);
    }
    let reply_by_a1 = format!("Bring water in {lang}");
    say(
        &mut a1,
        ch_no,
        &mut n,
        &format!("{}{id1} {reply_by_a1}", l.sigil("REPLY")),
    )
    .await;
    // ADD of an admin changes nothing; REMOVE of an admin is refused, of a subscriber works.
    let adds = l.all("ADD");
    for word in &adds {
        say(&mut a1, ch_no, &mut n, &format!("{word} {a2n}")).await;
    }
    let removes = l.all("REMOVE");
    for word in &removes {
        say(&mut a1, ch_no, &mut n, &format!("{word} {a2n}")).await;
    }
    say(&mut a1, ch_no, &mut n, &l.cmd("REMOVE", &s2n)).await;
    say(&mut a1, ch_no, &mut n, "Quokka o'clock?").await;
    say(&mut a2, ch_no, &mut n, &l.kw("LEAVE")).await;
    say(&mut a1, ch_no, &mut n, &l.cmd("BAN", &format!("@{id1}"))).await;
    let banned_text = format!("Narwhal after the ban in {lang}");
    say(&mut s1, ch_no, &mut n, &banned_text).await;
    let hotline_offs = l.all("HOTLINE_OFF");
    for word in &hotline_offs {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    let off_text = format!("Tapir while the hotline is off in {lang}");
    say(&mut s3, ch_no, &mut n, &off_text).await;
    let hotline_ons = l.all("HOTLINE_ON");
    for word in &hotline_ons {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    let question2 = format!("Okapi question in {lang}?");
    say(&mut s3, ch_no, &mut n, &question2).await;
    // An admin-only command from a subscriber is hotline text, not a broadcast.
    let not_broadcast = l.cmd("BROADCAST", &format!("Tapir for everyone in {lang}"));
    say(&mut s3, ch_no, &mut n, &not_broadcast).await;
    let vouching_ons = l.all("VOUCHING_ON");
    for word in &vouching_ons {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    let levels = l.all("VOUCH_LEVEL");
    for word in &levels {
        say(&mut a1, ch_no, &mut n, &format!("{word} 2")).await;
    }
    say(
        &mut a1,
        ch_no,
        &mut n,
        &l.cmd("INVITE", &format!("{outn},{out2n}")),
    )
    .await;
    say(&mut out, ch_no, &mut n, &l.kw("ACCEPT")).await;
    say(&mut a2, ch_no, &mut n, &l.cmd("INVITE", &outn)).await;
    say(&mut out, ch_no, &mut n, &l.kw("ACCEPT")).await;
    say(&mut out2, ch_no, &mut n, &l.kw("DECLINE")).await;
    say(&mut out2, ch_no, &mut n, &l.kw("ACCEPT")).await;
    let vouching_admins = l.all("VOUCHING_ADMIN");
    for word in &vouching_admins {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    say(&mut s3, ch_no, &mut n, &l.cmd("INVITE", &strangern)).await;
    say(&mut stranger, ch_no, &mut n, &l.kw("JOIN")).await;
    let vouching_offs = l.all("VOUCHING_OFF");
    for word in &vouching_offs {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    say(&mut stranger, ch_no, &mut n, &l.kw("JOIN")).await;
    say(&mut a1, ch_no, &mut n, &l.kw("INFO")).await;
    let destroys = l.all("DESTROY");
    for word in &destroys {
        say(&mut a1, ch_no, &mut n, word).await;
    }
    // Each CONFIRM DESTROY word with text after it is recognised and refused (takes no
    // text); the bare word ends the channel in phase 3.
    let confirms = l.all("DESTROY_CONFIRM");
    for word in &confirms {
        say(&mut a1, ch_no, &mut n, &format!("{word} now")).await;
    }
    process(n, &mut cli_seen);

    a2.expect_exact(&l.t("LanguageSet", &[])).await;
    // Broadcasts: bare to subscribers, with the header to the other admin.
    for b in &broadcasts {
        for p in [&mut s1, &mut s2, &mut s3] {
            p.expect_exact(b).await;
        }
        a2.expect_exact(&format!("{}\n{b}", l.t("BroadcastHeader", &[("n", &1)])))
            .await;
        a1.expect_exact(&l.t("BroadcastSent", &[("subscribers", &3), ("admins", &1)]))
            .await;
    }
    for p in &privates {
        a2.expect_exact(&format!("{}\n{p}", l.t("PrivateHeader", &[("n", &1)])))
            .await;
        a1.expect_exact(&l.t("PrivateSent", &[("admins", &1)]))
            .await;
    }
    // Replies: the sender gets the answer, the other admin a copy, the replier a receipt.
    let to_sender = l.t("ReplyToSenderHeader", &[]);
    for r in &replies_by_a2 {
        s1.expect_exact(&format!("{to_sender}\n{r}")).await;
        a1.expect_exact(&format!(
            "{}\n{r}",
            l.t("ReplyCopyHeader", &[("id", &id1), ("by", &2)])
        ))
        .await;
        a2.expect_exact(&l.t("ReplySent", &[("id", &id1)])).await;
    }
    s1.expect_exact(&format!("{to_sender}\n{reply_by_a1}"))
        .await;
    a2.expect_exact(&format!(
        "{}\n{reply_by_a1}",
        l.t("ReplyCopyHeader", &[("id", &id1), ("by", &1)])
    ))
    .await;
    a1.expect_exact(&l.t("ReplySent", &[("id", &id1)])).await;
    for _ in &adds {
        a1.expect_exact(&l.t("AlreadyAdmin", &[("n", &2)])).await;
    }
    for _ in &removes {
        a1.expect_exact(&l.t("RemoveAdminUseClient", &[("n", &2)]))
            .await;
    }
    s2.expect_exact(&l.t("YouWereRemoved", &[])).await;
    a1.expect_exact(&l.t("YouRemovedSubscriber", &[])).await;
    a2.expect_exact(&l.t("AdminRemovedSubscriber", &[("by", &1)]))
        .await;
    a1.expect_exact(&l.t("DidYouMeanBroadcast", &[])).await;
    a2.expect_exact(&l.t("AdminLeaveUseClient", &[])).await;
    a1.expect_exact(&l.t("AdminAsksToLeave", &[("n", &2)]))
        .await;
    // BAN: told once; what they send afterwards reaches nobody (checked at the end).
    s1.expect_exact(&l.t("YouAreBanned", &[])).await;
    a1.expect_exact(&l.t("YouBanned", &[("id", &id1)])).await;
    a2.expect_exact(&l.t("AdminBanned", &[("by", &1), ("id", &id1)]))
        .await;
    // HOTLINE OFF refuses (and forwards nothing), HOTLINE ON forwards again.
    let settings = [
        (l.hotline(false), hotline_offs.len()),
        (l.hotline(true), hotline_ons.len()),
        (l.vouching("On"), vouching_ons.len()),
        (l.t("VouchLevelChange", &[("n", &2)]), levels.len()),
        (l.vouching("AdminsOnly"), vouching_admins.len()),
        (l.vouching("Off"), vouching_offs.len()),
    ];
    for (what, times) in &settings {
        for _ in 0..*times {
            a1.expect_exact(&l.done(what)).await;
            a2.expect_exact(&l.changed(1, what)).await;
        }
    }
    s3.expect_exact(&l.t("HotlineOff", &[])).await;
    s3.expect_exact(&l.t("HotlineForwarded", &[])).await;
    let id2 = hotline_id(&l, &a1.expect_ending(&format!("\n{question2}")).await);
    assert_ne!(id1, id2);
    s3.expect_exact(&l.t("HotlineForwarded", &[])).await;
    let header2 = l.t("HotlineHeader", &[("id", &id2)]);
    a2.expect_exact(&format!("{header2}\n{question2}")).await;
    for p in [&mut a1, &mut a2] {
        p.expect_exact(&format!("{header2}\n{not_broadcast}")).await;
    }
    // Vouching and its level gate ACCEPT; DECLINE drops the invite.
    a1.expect_exact(&l.t("InviteIssued", &[])).await;
    a2.expect_exact(&l.t("InviteIssued", &[])).await;
    out.expect_exact(&l.t("Invited", &[("have", &1), ("needed", &2)]))
        .await;
    out2.expect_exact(&l.t("Invited", &[("have", &1), ("needed", &2)]))
        .await;
    out.expect_exact(&l.t("InviteRequired", &[("have", &1), ("needed", &2)]))
        .await;
    out.expect_exact(&l.t("Invited", &[("have", &2), ("needed", &2)]))
        .await;
    out.expect_exact(&l.t("Welcome", &[])).await;
    out.expect_timer(WEEK).await;
    out2.expect_exact(&l.t("Declined", &[])).await;
    out2.expect_exact(&l.t("NoInvite", &[])).await;
    // VOUCHING ADMIN: a subscriber cannot invite, and JOIN needs invites; after VOUCHING
    // OFF it needs none.
    s3.expect_exact(&l.t("InviteAdminsOnly", &[])).await;
    stranger
        .expect_exact(&l.t("InviteRequired", &[("have", &0), ("needed", &2)]))
        .await;
    stranger.expect_exact(&l.t("Welcome", &[])).await;
    stranger.expect_timer(WEEK).await;
    let off_word = l.t("Off", &[]);
    a1.expect_exact(&l.t(
        "InfoAdmin",
        &[
            ("subscribers", &3),
            ("admins", &2),
            ("h", &on),
            ("vm", &off_word),
            ("level", &2),
            ("d", &week),
        ],
    ))
    .await;
    for _ in &destroys {
        a1.expect_exact(&l.t("DestroyAsk", &[])).await;
    }
    for _ in &confirms {
        a1.expect_exact(&l.t("UnexpectedText", &[])).await;
    }

    // The CLI's `private` and `reply` (one unlock each): the admin's own receipt is printed
    // in their language, the others get it over Signal.
    let p3 = format!("Okapi from the command line in {lang}");
    let printed = w.cli.ok(&["private", &ch, &p3]);
    assert!(
        printed.contains(&l.t("PrivateSent", &[("admins", &1)])),
        "{printed}"
    );
    cli_seen.push(printed);
    a2.expect_exact(&format!("{}\n{p3}", l.t("PrivateHeader", &[("n", &1)])))
        .await;
    let r3 = format!("Answer from the command line in {lang}");
    let printed = w.cli.ok(&["reply", &ch, &format!("@{id2}"), &r3]);
    assert!(
        printed.contains(&l.t("ReplySent", &[("id", &id2)])),
        "{printed}"
    );
    cli_seen.push(printed);
    s3.expect_exact(&format!("{to_sender}\n{r3}")).await;
    a2.expect_exact(&format!(
        "{}\n{r3}",
        l.t("ReplyCopyHeader", &[("id", &id2), ("by", &1)])
    ))
    .await;

    // CONFIRM DESTROY: every member is told in their language and the channel is gone.
    let mut n = 0;
    say(&mut a1, ch_no, &mut n, &l.kw("DESTROY_CONFIRM")).await;
    w.cli.wait_queued(&ch, n);
    let v = w.cli.mailbox(&ch);
    assert_eq!(v["destroyed"], true, "{v}");
    cli_seen.push(v.to_string());
    for p in [&mut a1, &mut a2, &mut s3, &mut out, &mut stranger] {
        p.expect_exact(&l.t("Destroyed", &[])).await;
    }
    let (code, stdout, stderr) = w.cli.run(&["mailbox", &ch, "--json"]);
    assert_ne!(code, 0, "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["error"], "unauthorized", "{v}");

    // Nothing else reached anyone: not the banned sender's text, not the text sent while
    // the hotline was off, nothing to those who left, were removed or banned.
    let mut phones = [
        &mut a1,
        &mut a2,
        &mut s1,
        &mut s2,
        &mut s3,
        &mut s4,
        &mut out,
        &mut out2,
        &mut stranger,
    ];
    let left = futures::future::join_all(phones.iter_mut().map(|p| leftovers(p))).await;
    for (p, left) in phones.iter().zip(left) {
        assert!(left.is_empty(), "{} also got {left:#?}", p.p.e164());
    }
    for t in [&banned_text, &off_text] {
        assert!(
            !a1.all.iter().chain(&a2.all).any(|b| b.contains(t.as_str())),
            "{t:?} reached an admin"
        );
    }
    // The admins never saw a subscriber's number.
    let seen = a1.all.iter().chain(&a2.all).chain(&cli_seen);
    for s in seen {
        for number in [&s1n, &s2n, &s3n, &s4n, &outn, &out2n, &strangern] {
            assert!(
                !s.contains(number.trim_start_matches('+')),
                "subscriber number in {s:?}"
            );
        }
    }
    l.assert_all_used();
}

#[tokio::test(flavor = "current_thread")]
async fn every_command_in_english() {
    every_command(0).await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_command_in_spanish() {
    every_command(1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_command_in_french() {
    every_command(2).await;
}

#[tokio::test(flavor = "current_thread")]
async fn every_command_in_german() {
    every_command(3).await;
}
