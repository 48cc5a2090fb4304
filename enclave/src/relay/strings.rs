//! Every text the relay sends, in EN, ES, FR and DE. Written for sealboost (not Signalboost's
//! strings). Admins appear as `ADMIN n`, hotline senders as `@id`; no text takes a phone
//! number or a body as a parameter, so none can leak one.

use crate::vault::model::{Language, VouchMode};

/// A setting change, announced to admins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    Hotline(bool),
    Vouching(VouchMode),
    VouchLevel(u8),
    Timer(u32),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Msg {
    BroadcastHeader(u16),
    BroadcastSent {
        subscribers: usize,
        admins: usize,
    },
    PrivateHeader(u16),
    PrivateSent {
        admins: usize,
    },
    HotlineHeader(u32),
    HotlineForwarded,
    HotlineOff,
    HotlineUnavailable,
    ReplyToSenderHeader,
    ReplyCopyHeader {
        id: u32,
        by: u16,
    },
    ReplySent(u32),
    UnknownHotlineId(u32),
    NothingToSend,
    DidYouMeanBroadcast,
    UnexpectedText,
    InvalidPhone,
    InvalidPhoneList,
    InvalidHotlineId,
    InvalidVouchLevel,
    Unsupported,
    TooLong,
    LimitReached,
    AdminWelcome(u16),
    AdminAdded {
        by: u16,
        new: u16,
    },
    YouAdded(u16),
    AlreadyAdmin(u16),
    YouWereRemoved,
    YouRemovedSubscriber,
    AdminRemovedSubscriber {
        by: u16,
    },
    NotMemberTarget,
    YouBanned(u32),
    AdminBanned {
        by: u16,
        id: u32,
    },
    YouAreBanned,
    Setting {
        by: Option<u16>,
        change: Change,
    },
    Welcome,
    AlreadyMember,
    ChannelFull,
    InviteRequired {
        have: usize,
        needed: u8,
    },
    Left,
    NotMember,
    InviteIssued,
    InviteAdminsOnly,
    InviteMembersOnly,
    Invited {
        have: usize,
        needed: u8,
    },
    NoInvite,
    Declined,
    DestroyAsk,
    Destroyed,
    Help {
        admin: bool,
    },
    InfoAdmin {
        subscribers: usize,
        admins: usize,
        hotline_on: bool,
        vouch: VouchMode,
        level: u8,
        timer: u32,
    },
    InfoMember {
        member: bool,
        hotline_on: bool,
        timer: u32,
    },
    LanguageSet,
    TimerReverted(u32),
    TimerOffRefused,
    IdentityChanged(u16),
    /// A deauthorized admin's identity key changed once more (COURIER.md §3.1).
    IdentityChangedAgain(u16),
    /// A re-ADD trusts the admin again with the key shown.
    Reauthorized(u16),
    AddInviting,
    AdminInviting {
        by: u16,
    },
    AddProposed {
        pid: u32,
        approvals: usize,
        needed: usize,
    },
    AdminProposedAdd {
        by: u16,
        pid: u32,
        approvals: usize,
        needed: usize,
    },
    ProposalRefused,
    RemoveAdminUseClient(u16),
    AdminLeaveUseClient,
    AdminAsksToLeave(u16),
}

use Language::{De, En, Es, Fr};

/// A notice followed by the safety number it is about (COURIER.md §3.1): a line saying what
/// to do with it, then its 60 digits in twelve groups of five, as the Signal apps show it.
pub(crate) fn with_safety_number(l: Language, notice: String, digits: &str) -> String {
    let how = pick(
        l,
        "Safety number (compare it with them in person or on a call; their Signal app shows it for this channel's chat):",
        "Número de seguridad (compáralo con esa persona en persona o por llamada; su app de Signal lo muestra en el chat de este canal):",
        "Numéro de sécurité (comparez-le avec la personne, en face ou par appel ; son app Signal l'affiche dans la conversation de cette chaîne) :",
        "Sicherheitsnummer (vergleicht sie persönlich oder per Anruf; ihre Signal-App zeigt sie im Chat dieses Kanals):",
    );
    format!("{notice}\n{how}\n{digits}")
}

fn pick(l: Language, en: &str, es: &str, fr: &str, de: &str) -> String {
    match l {
        En => en,
        Es => es,
        Fr => fr,
        De => de,
    }
    .to_owned()
}

/// "1 week", "3 days", ... in the largest whole unit.
pub(crate) fn duration(l: Language, secs: u32) -> String {
    const UNITS: [(u32, [&str; 8]); 5] = [
        (
            604_800,
            [
                "week", "weeks", "semana", "semanas", "semaine", "semaines", "Woche", "Wochen",
            ],
        ),
        (
            86_400,
            ["day", "days", "día", "días", "jour", "jours", "Tag", "Tage"],
        ),
        (
            3_600,
            [
                "hour", "hours", "hora", "horas", "heure", "heures", "Stunde", "Stunden",
            ],
        ),
        (
            60,
            [
                "minute", "minutes", "minuto", "minutos", "minute", "minutes", "Minute", "Minuten",
            ],
        ),
        (
            1,
            [
                "second", "seconds", "segundo", "segundos", "seconde", "secondes", "Sekunde",
                "Sekunden",
            ],
        ),
    ];
    let (unit, words) = UNITS
        .iter()
        .find(|(u, _)| secs.is_multiple_of(*u) && secs >= *u)
        .unwrap_or(&UNITS[4]);
    let n = secs / unit;
    let base = 2 * l as usize;
    let word = words[base + usize::from(n != 1)];
    format!("{n} {word}")
}

fn on_off(l: Language, on: bool) -> String {
    match (l, on) {
        (En, true) => "on",
        (En, false) => "off",
        (Es, true) => "activada",
        (Es, false) => "desactivada",
        (Fr, true) => "activée",
        (Fr, false) => "désactivée",
        (De, true) => "an",
        (De, false) => "aus",
    }
    .to_owned()
}

fn vouch(l: Language, m: VouchMode) -> String {
    match m {
        VouchMode::Off => on_off(l, false),
        VouchMode::On => on_off(l, true),
        VouchMode::Admin => pick(
            l,
            "admins only",
            "solo admins",
            "admins seulement",
            "nur Admins",
        ),
    }
}

fn change(l: Language, c: Change) -> String {
    match c {
        Change::Hotline(on) => {
            let v = on_off(l, on);
            pick(
                l,
                &format!("the hotline {v}"),
                &format!("la línea directa {v}"),
                &format!("la hotline {v}"),
                &format!("die Hotline {v}"),
            )
        }
        Change::Vouching(m) => {
            let v = vouch(l, m);
            pick(
                l,
                &format!("vouching: {v}"),
                &format!("atestiguando: {v}"),
                &format!("se porter garant : {v}"),
                &format!("Vertrauen: {v}"),
            )
        }
        Change::VouchLevel(n) => pick(
            l,
            &format!("vouch level {n}"),
            &format!("nivel de atestiguar {n}"),
            &format!("niveau de porter garant {n}"),
            &format!("Vertrauens-Level {n}"),
        ),
        Change::Timer(secs) => {
            let d = duration(l, secs);
            pick(
                l,
                &format!("disappearing messages after {d}"),
                &format!("mensajes temporales tras {d}"),
                &format!("messages éphémères après {d}"),
                &format!("verschwindende Nachrichten nach {d}"),
            )
        }
    }
}

/// The text of `m` in `l`.
pub(crate) fn render(l: Language, m: Msg) -> String {
    match m {
        Msg::BroadcastHeader(n) => pick(
            l,
            &format!("[BROADCAST FROM ADMIN {n}]"),
            &format!("[TRANSMISIÓN DE ADMIN {n}]"),
            &format!("[DIFFUSION DE ADMIN {n}]"),
            &format!("[SENDUNG VON ADMIN {n}]"),
        ),
        Msg::BroadcastSent {
            subscribers,
            admins,
        } => pick(
            l,
            &format!("Broadcast sent to {subscribers} subscribers and {admins} other admins."),
            &format!("Transmisión enviada a {subscribers} suscriptores y {admins} otros admins."),
            &format!("Diffusion envoyée à {subscribers} abonné·es et {admins} autres admins."),
            &format!("Sendung an {subscribers} Abonnent*innen und {admins} weitere Admins geschickt."),
        ),
        Msg::PrivateHeader(n) => pick(
            l,
            &format!("[PRIVATE FROM ADMIN {n}]"),
            &format!("[PRIVADO DE ADMIN {n}]"),
            &format!("[PRIVÉ DE ADMIN {n}]"),
            &format!("[PRIVAT VON ADMIN {n}]"),
        ),
        Msg::PrivateSent { admins } => pick(
            l,
            &format!("Private message sent to {admins} other admins."),
            &format!("Mensaje privado enviado a {admins} otros admins."),
            &format!("Message privé envoyé à {admins} autres admins."),
            &format!("Private Nachricht an {admins} weitere Admins geschickt."),
        ),
        Msg::HotlineHeader(id) => pick(
            l,
            &format!("[HOTLINE FROM @{id}]"),
            &format!("[LÍNEA DIRECTA DE @{id}]"),
            &format!("[HOTLINE DE @{id}]"),
            &format!("[HOTLINE VON @{id}]"),
        ),
        Msg::HotlineForwarded => pick(
            l,
            "Your message went to the channel's admins. They can answer you here; your number stays hidden from them.",
            "Tu mensaje llegó a los admins del canal. Pueden responderte aquí; tu número sigue oculto para ellos.",
            "Votre message a été transmis aux admins de la chaîne. Ils peuvent vous répondre ici ; votre numéro leur reste caché.",
            "Deine Nachricht ging an die Admins des Kanals. Sie können dir hier antworten; deine Nummer bleibt ihnen verborgen.",
        ),
        Msg::HotlineOff => pick(
            l,
            "Sorry, this channel does not take incoming messages. Send HELP for what you can do.",
            "Lo siento, este canal no recibe mensajes. Envía AYUDA para ver qué puedes hacer.",
            "Désolé, cette chaîne ne reçoit pas de messages. Envoyez AIDE pour voir ce que vous pouvez faire.",
            "Leider nimmt dieser Kanal keine Nachrichten an. Sende HILFE, um zu sehen, was du tun kannst.",
        ),
        Msg::HotlineUnavailable => pick(
            l,
            "Sorry, the hotline cannot take your message right now. Please try again later.",
            "Lo siento, la línea directa no puede recibir tu mensaje ahora. Inténtalo más tarde.",
            "Désolé, la hotline ne peut pas recevoir votre message maintenant. Réessayez plus tard.",
            "Leider kann die Hotline deine Nachricht gerade nicht annehmen. Versuch es später noch einmal.",
        ),
        Msg::ReplyToSenderHeader => pick(
            l,
            "[REPLY FROM THE ADMINS]",
            "[RESPUESTA DE LOS ADMINS]",
            "[RÉPONSE DES ADMINS]",
            "[ANTWORT DER ADMINS]",
        ),
        Msg::ReplyCopyHeader { id, by } => pick(
            l,
            &format!("[REPLY TO @{id} FROM ADMIN {by}]"),
            &format!("[RESPUESTA A @{id} DE ADMIN {by}]"),
            &format!("[RÉPONSE À @{id} DE ADMIN {by}]"),
            &format!("[ANTWORT AN @{id} VON ADMIN {by}]"),
        ),
        Msg::ReplySent(id) => pick(
            l,
            &format!("Reply sent to @{id}."),
            &format!("Respuesta enviada a @{id}."),
            &format!("Réponse envoyée à @{id}."),
            &format!("Antwort an @{id} geschickt."),
        ),
        Msg::UnknownHotlineId(id) => pick(
            l,
            &format!("There is no hotline message @{id} (ids expire after 3 days)."),
            &format!("No hay ningún mensaje de línea directa @{id} (los ids caducan tras 3 días)."),
            &format!("Il n'y a pas de message hotline @{id} (les ids expirent après 3 jours)."),
            &format!("Es gibt keine Hotline-Nachricht @{id} (IDs verfallen nach 3 Tagen)."),
        ),
        Msg::NothingToSend => pick(
            l,
            "There is nothing to send: add a message after the command.",
            "No hay nada que enviar: escribe un mensaje después del comando.",
            "Rien à envoyer : ajoutez un message après la commande.",
            "Nichts zu senden: schreib eine Nachricht nach dem Befehl.",
        ),
        Msg::DidYouMeanBroadcast => pick(
            l,
            "Did you mean to broadcast? Start your message with BROADCAST (or !). Send HELP for all commands.",
            "¿Querías transmitir? Empieza tu mensaje con TRANSMITIR (o !). Envía AYUDA para ver los comandos.",
            "Vouliez-vous diffuser ? Commencez votre message par DIFFUSER (ou !). Envoyez AIDE pour les commandes.",
            "Wolltest du senden? Beginne deine Nachricht mit SENDEN (oder !). Sende HILFE für alle Befehle.",
        ),
        Msg::UnexpectedText => pick(
            l,
            "That command takes no text after it. To send a message to everyone, start it with BROADCAST.",
            "Ese comando no lleva texto detrás. Para enviar un mensaje a todos, empieza con TRANSMITIR.",
            "Cette commande ne prend pas de texte. Pour écrire à tout le monde, commencez par DIFFUSER.",
            "Dieser Befehl nimmt keinen Text an. Für eine Nachricht an alle beginne mit SENDEN.",
        ),
        Msg::InvalidPhone => pick(
            l,
            "That is not a valid phone number. Use the international format, e.g. +1 555 123 4567.",
            "Ese número no es válido. Usa el formato internacional, p. ej. +34 612 345 678.",
            "Ce numéro n'est pas valide. Utilisez le format international, p. ex. +33 6 12 34 56 78.",
            "Das ist keine gültige Telefonnummer. Nutze das internationale Format, z. B. +49 151 2345678.",
        ),
        Msg::InvalidPhoneList => pick(
            l,
            "Please give up to 20 phone numbers in international format, separated by commas.",
            "Indica hasta 20 números en formato internacional, separados por comas.",
            "Indiquez jusqu'à 20 numéros au format international, séparés par des virgules.",
            "Bitte gib bis zu 20 Telefonnummern im internationalen Format an, durch Kommas getrennt.",
        ),
        Msg::InvalidHotlineId => pick(
            l,
            "Please give a hotline id, e.g. REPLY @12 your answer (or @12 your answer).",
            "Indica un id de línea directa, p. ej. RESPONDER @12 tu respuesta (o @12 tu respuesta).",
            "Indiquez un id de hotline, p. ex. RÉPONDRE @12 votre réponse (ou @12 votre réponse).",
            "Bitte gib eine Hotline-ID an, z. B. ANTWORTEN @12 deine Antwort (oder @12 deine Antwort).",
        ),
        Msg::InvalidVouchLevel => pick(
            l,
            "The vouch level must be a number from 1 to 10.",
            "El nivel de atestiguar debe ser un número del 1 al 10.",
            "Le niveau de porter garant doit être un nombre de 1 à 10.",
            "Das Vertrauens-Level muss eine Zahl von 1 bis 10 sein.",
        ),
        Msg::Unsupported => pick(
            l,
            "That command is not available on this channel. Send HELP for the commands.",
            "Ese comando no está disponible en este canal. Envía AYUDA para ver los comandos.",
            "Cette commande n'est pas disponible sur cette chaîne. Envoyez AIDE pour les commandes.",
            "Dieser Befehl ist in diesem Kanal nicht verfügbar. Sende HILFE für die Befehle.",
        ),
        Msg::TooLong => pick(
            l,
            "Your message is too long and was not delivered.",
            "Tu mensaje es demasiado largo y no se entregó.",
            "Votre message est trop long et n'a pas été transmis.",
            "Deine Nachricht ist zu lang und wurde nicht zugestellt.",
        ),
        Msg::LimitReached => pick(
            l,
            "Sorry, this channel has reached one of its limits; nothing was changed.",
            "Lo siento, este canal llegó a uno de sus límites; no se cambió nada.",
            "Désolé, cette chaîne a atteint une de ses limites ; rien n'a été modifié.",
            "Leider hat dieser Kanal eine seiner Grenzen erreicht; nichts wurde geändert.",
        ),
        Msg::AdminWelcome(n) => pick(
            l,
            &format!("You are now ADMIN {n} of this channel. Send HELP for the admin commands."),
            &format!("Ahora eres ADMIN {n} de este canal. Envía AYUDA para ver los comandos de admin."),
            &format!("Vous êtes maintenant ADMIN {n} de cette chaîne. Envoyez AIDE pour les commandes d'admin."),
            &format!("Du bist jetzt ADMIN {n} dieses Kanals. Sende HILFE für die Admin-Befehle."),
        ),
        Msg::AdminAdded { by, new } => pick(
            l,
            &format!("ADMIN {by} added ADMIN {new}."),
            &format!("ADMIN {by} agregó a ADMIN {new}."),
            &format!("ADMIN {by} a ajouté ADMIN {new}."),
            &format!("ADMIN {by} hat ADMIN {new} hinzugefügt."),
        ),
        Msg::YouAdded(n) => pick(
            l,
            &format!("You added ADMIN {n}."),
            &format!("Agregaste a ADMIN {n}."),
            &format!("Vous avez ajouté ADMIN {n}."),
            &format!("Du hast ADMIN {n} hinzugefügt."),
        ),
        Msg::AlreadyAdmin(n) => pick(
            l,
            &format!("That number is already ADMIN {n}."),
            &format!("Ese número ya es ADMIN {n}."),
            &format!("Ce numéro est déjà ADMIN {n}."),
            &format!("Diese Nummer ist bereits ADMIN {n}."),
        ),
        Msg::YouWereRemoved => pick(
            l,
            "You were removed from this channel.",
            "Te quitaron de este canal.",
            "Vous avez été retiré·e de cette chaîne.",
            "Du wurdest aus diesem Kanal entfernt.",
        ),
        Msg::YouRemovedSubscriber => pick(
            l,
            "You removed a subscriber.",
            "Quitaste a un suscriptor.",
            "Vous avez retiré un·e abonné·e.",
            "Du hast eine*n Abonnent*in entfernt.",
        ),
        Msg::AdminRemovedSubscriber { by } => pick(
            l,
            &format!("ADMIN {by} removed a subscriber."),
            &format!("ADMIN {by} quitó a un suscriptor."),
            &format!("ADMIN {by} a retiré un·e abonné·e."),
            &format!("ADMIN {by} hat eine*n Abonnent*in entfernt."),
        ),
        Msg::NotMemberTarget => pick(
            l,
            "That number is not a member of this channel.",
            "Ese número no es miembro de este canal.",
            "Ce numéro n'est pas membre de cette chaîne.",
            "Diese Nummer ist kein Mitglied dieses Kanals.",
        ),
        Msg::YouBanned(id) => pick(
            l,
            &format!("@{id} is banned: their messages will no longer reach you."),
            &format!("@{id} está prohibido: sus mensajes ya no te llegarán."),
            &format!("@{id} est interdit·e : ses messages ne vous parviendront plus."),
            &format!("@{id} ist gesperrt: Nachrichten von dort erreichen euch nicht mehr."),
        ),
        Msg::AdminBanned { by, id } => pick(
            l,
            &format!("ADMIN {by} banned @{id}."),
            &format!("ADMIN {by} prohibió a @{id}."),
            &format!("ADMIN {by} a interdit @{id}."),
            &format!("ADMIN {by} hat @{id} gesperrt."),
        ),
        Msg::YouAreBanned => pick(
            l,
            "An admin has blocked your messages to this channel.",
            "Un admin bloqueó tus mensajes a este canal.",
            "Un·e admin a bloqué vos messages vers cette chaîne.",
            "Ein Admin hat deine Nachrichten an diesen Kanal gesperrt.",
        ),
        Msg::Setting { by, change: c } => {
            let what = change(l, c);
            match by {
                None => pick(
                    l,
                    &format!("Done: {what}."),
                    &format!("Hecho: {what}."),
                    &format!("C'est fait : {what}."),
                    &format!("Erledigt: {what}."),
                ),
                Some(n) => pick(
                    l,
                    &format!("ADMIN {n} changed a setting: {what}."),
                    &format!("ADMIN {n} cambió un ajuste: {what}."),
                    &format!("ADMIN {n} a modifié un réglage : {what}."),
                    &format!("ADMIN {n} hat eine Einstellung geändert: {what}."),
                ),
            }
        }
        Msg::Welcome => pick(
            l,
            "Welcome! You are subscribed to this channel. Send HELP for commands, LEAVE to unsubscribe.",
            "¡Bienvenida/o! Te suscribiste a este canal. Envía AYUDA para los comandos, ADIÓS para salir.",
            "Bienvenue ! Vous êtes abonné·e à cette chaîne. Envoyez AIDE pour les commandes, AUREVOIR pour partir.",
            "Willkommen! Du hast diesen Kanal abonniert. Sende HILFE für die Befehle, TSCHÜSS zum Abmelden.",
        ),
        Msg::AlreadyMember => pick(
            l,
            "You are already a member of this channel.",
            "Ya eres miembro de este canal.",
            "Vous êtes déjà membre de cette chaîne.",
            "Du bist bereits Mitglied dieses Kanals.",
        ),
        Msg::ChannelFull => pick(
            l,
            "Sorry, this channel is full.",
            "Lo siento, este canal está lleno.",
            "Désolé, cette chaîne est complète.",
            "Leider ist dieser Kanal voll.",
        ),
        Msg::InviteRequired { have, needed } => pick(
            l,
            &format!("This channel requires an invite: {needed} needed, you have {have}. Ask a member to INVITE you."),
            &format!("Este canal requiere una invitación: se necesitan {needed}, tienes {have}. Pide a un miembro que te invite (INVITAR)."),
            &format!("Cette chaîne exige une invitation : {needed} nécessaires, vous en avez {have}. Demandez à un membre de vous inviter (INVITER)."),
            &format!("Dieser Kanal erfordert eine Einladung: {needed} nötig, du hast {have}. Bitte ein Mitglied, dich einzuladen (EINLADEN)."),
        ),
        Msg::Left => pick(
            l,
            "You have left this channel. Goodbye!",
            "Saliste de este canal. ¡Adiós!",
            "Vous avez quitté cette chaîne. Au revoir !",
            "Du hast diesen Kanal verlassen. Tschüss!",
        ),
        Msg::NotMember => pick(
            l,
            "You are not a member of this channel. Send HELLO to join.",
            "No eres miembro de este canal. Envía HOLA para unirte.",
            "Vous n'êtes pas membre de cette chaîne. Envoyez BONJOUR pour la rejoindre.",
            "Du bist kein Mitglied dieses Kanals. Sende HALLO zum Beitreten.",
        ),
        Msg::InviteIssued => pick(
            l,
            "Invite issued.",
            "Invitación emitida.",
            "Invitation envoyée.",
            "Einladung verschickt.",
        ),
        Msg::InviteAdminsOnly => pick(
            l,
            "Sorry, on this channel only admins can invite.",
            "Lo siento, en este canal solo los admins pueden invitar.",
            "Désolé, sur cette chaîne seuls les admins peuvent inviter.",
            "Leider können in diesem Kanal nur Admins einladen.",
        ),
        Msg::InviteMembersOnly => pick(
            l,
            "Sorry, only members of this channel can invite.",
            "Lo siento, solo los miembros de este canal pueden invitar.",
            "Désolé, seuls les membres de cette chaîne peuvent inviter.",
            "Leider können nur Mitglieder dieses Kanals einladen.",
        ),
        Msg::Invited { have, needed } => pick(
            l,
            &format!("You have been invited to a Signal channel ({have} of {needed} invites needed). Reply ACCEPT to join or DECLINE to refuse."),
            &format!("Te invitaron a un canal de Signal ({have} de {needed} invitaciones necesarias). Responde ACEPTAR para unirte o RECHAZAR para rehusar."),
            &format!("Vous êtes invité·e à une chaîne Signal ({have} sur {needed} invitations nécessaires). Répondez ACCEPTER pour la rejoindre ou REFUSER."),
            &format!("Du wurdest in einen Signal-Kanal eingeladen ({have} von {needed} nötigen Einladungen). Antworte ANNEHMEN zum Beitreten oder ABLEHNEN."),
        ),
        Msg::NoInvite => pick(
            l,
            "You have no pending invite to this channel.",
            "No tienes ninguna invitación pendiente a este canal.",
            "Vous n'avez pas d'invitation en attente pour cette chaîne.",
            "Du hast keine offene Einladung zu diesem Kanal.",
        ),
        Msg::Declined => pick(
            l,
            "Invite declined. You will not be added.",
            "Invitación rechazada. No se te agregará.",
            "Invitation refusée. Vous ne serez pas ajouté·e.",
            "Einladung abgelehnt. Du wirst nicht hinzugefügt.",
        ),
        Msg::DestroyAsk => pick(
            l,
            "This deletes the channel and everything it stores, for good. To go ahead, send CONFIRM DESTROY.",
            "Esto borra el canal y todo lo que guarda, para siempre. Para seguir, envía CONFIRMAR DESTRUIR.",
            "Cela supprime la chaîne et tout ce qu'elle conserve, définitivement. Pour continuer, envoyez CONFIRMER DÉTRUIRE.",
            "Das löscht den Kanal und alles Gespeicherte endgültig. Zum Fortfahren sende BESTÄTIGEN VERNICHTEN.",
        ),
        Msg::Destroyed => pick(
            l,
            "This channel has been shut down by its admins and will no longer send or receive messages.",
            "Los admins cerraron este canal; ya no enviará ni recibirá mensajes.",
            "Les admins ont fermé cette chaîne ; elle n'enverra ni ne recevra plus de messages.",
            "Die Admins haben diesen Kanal geschlossen; er sendet und empfängt keine Nachrichten mehr.",
        ),
        Msg::Help { admin: true } => pick(
            l,
            "Admin commands:\n! or BROADCAST text: to everyone\n~ or PRIVATE text: to the admins\n@id text or REPLY @id text: answer a hotline message\nADD +number / REMOVE +number\nBAN @id\nHOTLINE ON / OFF\nVOUCHING ON / OFF / ADMIN\nVOUCH LEVEL n\nINVITE +number, +number\nINFO, HELP, LEAVE\nDESTROY\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Comandos de admin:\n! o TRANSMITIR texto: a todos\n~ o PRIVADO texto: a los admins\n@id texto o RESPONDER @id texto: responder a la línea directa\nAGREGAR +número / QUITAR +número\nPROHIBIR @id\nLÍNEA DIRECTA ACTIVADA / DESACTIVADA\nATESTIGUANDO ACTIVADA / DESACTIVADA / ADMIN\nNIVEL DE ATESTIGUAR n\nINVITAR +número, +número\nINFO, AYUDA, ADIÓS\nDESTRUIR\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Commandes d'admin :\n! ou DIFFUSER texte : à tout le monde\n~ ou PRIVÉ texte : aux admins\n@id texte ou RÉPONDRE @id texte : répondre à la hotline\nAJOUTER +numéro / SUPPRIMER +numéro\nINTERDIRE @id\nHOTLINE ACTIVÉE / DÉSACTIVÉE\nSE PORTER GARANT ACTIVÉE / DÉSACTIVÉE / ADMIN\nNIVEAU DE PORTER GARANT n\nINVITER +numéro, +numéro\nINFO, AIDE, AUREVOIR\nDÉTRUIRE\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
            "Admin-Befehle:\n! oder SENDEN Text: an alle\n~ oder PRIVAT Text: an die Admins\n@id Text oder ANTWORTEN @id Text: Hotline beantworten\nHINZUFÜGEN +Nummer / ENTFERNEN +Nummer\nVERBIETEN @id\nHOTLINE AN / AUS\nVERTRAUEN AN / AUS / ADMIN\nVERTRAUENS-LEVEL n\nEINLADEN +Nummer, +Nummer\nINFO, HILFE, TSCHÜSS\nVERNICHTEN\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH",
        ),
        Msg::Help { admin: false } => pick(
            l,
            "Commands:\nHELLO: subscribe\nGOODBYE: unsubscribe\nINFO: about this channel\nINVITE +number: invite someone\nACCEPT / DECLINE: answer an invite\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: language\nAnything else you send goes to the admins, without your number.",
            "Comandos:\nHOLA: suscribirte\nADIÓS: salir\nINFO: sobre este canal\nINVITAR +número: invitar a alguien\nACEPTAR / RECHAZAR: responder a una invitación\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: idioma\nTodo lo demás que envíes llega a los admins, sin tu número.",
            "Commandes :\nBONJOUR : s'abonner\nAUREVOIR : se désabonner\nINFO : à propos de cette chaîne\nINVITER +numéro : inviter quelqu'un\nACCEPTER / REFUSER : répondre à une invitation\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH : langue\nTout autre message va aux admins, sans votre numéro.",
            "Befehle:\nHALLO: abonnieren\nTSCHÜSS: abmelden\nINFO: über diesen Kanal\nEINLADEN +Nummer: jemanden einladen\nANNEHMEN / ABLEHNEN: auf eine Einladung antworten\nENGLISH / ESPAÑOL / FRANÇAIS / DEUTSCH: Sprache\nAlles andere geht an die Admins, ohne deine Nummer.",
        ),
        Msg::InfoAdmin {
            subscribers,
            admins,
            hotline_on,
            vouch: v,
            level,
            timer,
        } => {
            let (h, vm, d) = (on_off(l, hotline_on), vouch(l, v), duration(l, timer));
            pick(
                l,
                &format!("Subscribers: {subscribers}\nAdmins: {admins}\nHotline: {h}\nVouching: {vm} (level {level})\nDisappearing messages: {d}"),
                &format!("Suscriptores: {subscribers}\nAdmins: {admins}\nLínea directa: {h}\nAtestiguando: {vm} (nivel {level})\nMensajes temporales: {d}"),
                &format!("Abonné·es : {subscribers}\nAdmins : {admins}\nHotline : {h}\nSe porter garant : {vm} (niveau {level})\nMessages éphémères : {d}"),
                &format!("Abonnent*innen: {subscribers}\nAdmins: {admins}\nHotline: {h}\nVertrauen: {vm} (Level {level})\nVerschwindende Nachrichten: {d}"),
            )
        }
        Msg::InfoMember {
            member,
            hotline_on,
            timer,
        } => {
            let (h, d) = (on_off(l, hotline_on), duration(l, timer));
            let status = match (l, member) {
                (En, true) => "You are subscribed.",
                (En, false) => "You are not subscribed.",
                (Es, true) => "Estás suscrito/a.",
                (Es, false) => "No estás suscrito/a.",
                (Fr, true) => "Vous êtes abonné·e.",
                (Fr, false) => "Vous n'êtes pas abonné·e.",
                (De, true) => "Du hast abonniert.",
                (De, false) => "Du hast nicht abonniert.",
            };
            pick(
                l,
                &format!("{status}\nHotline: {h}\nDisappearing messages: {d}"),
                &format!("{status}\nLínea directa: {h}\nMensajes temporales: {d}"),
                &format!("{status}\nHotline : {h}\nMessages éphémères : {d}"),
                &format!("{status}\nHotline: {h}\nVerschwindende Nachrichten: {d}"),
            )
        }
        Msg::LanguageSet => pick(
            l,
            "I will talk to you in English from now on.",
            "A partir de ahora te hablaré en español.",
            "Je vous parlerai désormais en français.",
            "Ich schreibe dir ab jetzt auf Deutsch.",
        ),
        Msg::TimerReverted(secs) => {
            let d = duration(l, secs);
            pick(
                l,
                &format!("Only admins can change the disappearing-message timer; it stays at {d}."),
                &format!("Solo los admins pueden cambiar el temporizador de mensajes; sigue en {d}."),
                &format!("Seuls les admins peuvent changer la durée des messages éphémères ; elle reste à {d}."),
                &format!("Nur Admins können den Timer für verschwindende Nachrichten ändern; er bleibt bei {d}."),
            )
        }
        Msg::TimerOffRefused => pick(
            l,
            "Disappearing messages cannot be turned off on this channel; the timer was set back.",
            "Los mensajes temporales no se pueden desactivar en este canal; se restableció el temporizador.",
            "Les messages éphémères ne peuvent pas être désactivés sur cette chaîne ; la durée a été rétablie.",
            "Verschwindende Nachrichten lassen sich in diesem Kanal nicht abschalten; der Timer wurde zurückgesetzt.",
        ),
        Msg::IdentityChanged(n) => pick(
            l,
            &format!("ADMIN {n}'s safety number changed. They are deauthorized until an admin ADDs their number again."),
            &format!("El número de seguridad de ADMIN {n} cambió. Queda desautorizado hasta que un admin vuelva a AGREGAR su número."),
            &format!("Le numéro de sécurité de ADMIN {n} a changé. Il ou elle est désautorisé·e jusqu'à ce qu'un·e admin AJOUTE à nouveau son numéro."),
            &format!("Die Sicherheitsnummer von ADMIN {n} hat sich geändert. ADMIN {n} ist gesperrt, bis ein Admin die Nummer erneut HINZUFÜGT."),
        ),
        Msg::IdentityChangedAgain(n) => pick(
            l,
            &format!("ADMIN {n}'s safety number changed again. They stay deauthorized; an ADD of their number trusts only the new safety number below."),
            &format!("El número de seguridad de ADMIN {n} cambió otra vez. Sigue desautorizado; AGREGAR su número confía solo en el nuevo número de seguridad de abajo."),
            &format!("Le numéro de sécurité de ADMIN {n} a encore changé. Il ou elle reste désautorisé·e ; AJOUTER son numéro ne fait confiance qu'au nouveau numéro de sécurité ci-dessous."),
            &format!("Die Sicherheitsnummer von ADMIN {n} hat sich erneut geändert. ADMIN {n} bleibt gesperrt; HINZUFÜGEN vertraut nur der neuen Sicherheitsnummer unten."),
        ),
        Msg::Reauthorized(n) => pick(
            l,
            &format!("ADMIN {n} is an admin again, trusted with the safety number below. If it is not the one ADMIN {n} sees for this channel, REMOVE them."),
            &format!("ADMIN {n} vuelve a ser admin, con la confianza puesta en el número de seguridad de abajo. Si no es el que ADMIN {n} ve para este canal, ELIMÍNALO."),
            &format!("ADMIN {n} est de nouveau admin, avec le numéro de sécurité ci-dessous. Si ce n'est pas celui que ADMIN {n} voit pour cette chaîne, RETIREZ-le ou la."),
            &format!("ADMIN {n} ist wieder Admin, mit der Sicherheitsnummer unten. Wenn ADMIN {n} für diesen Kanal eine andere sieht, ENTFERNE ADMIN {n}."),
        ),
        Msg::AddInviting => pick(
            l,
            "A one-time passphrase is on its way to that number over Signal. They become an admin when their sealboost client redeems it (sealboost admin accept).",
            "Una contraseña de un solo uso va en camino a ese número por Signal. Será admin cuando su cliente sealboost la canjee (sealboost admin accept).",
            "Une phrase de passe à usage unique part vers ce numéro par Signal. La personne devient admin quand son client sealboost l'utilise (sealboost admin accept).",
            "Eine Einmal-Passphrase ist per Signal unterwegs an diese Nummer. Sie wird Admin, sobald ihr sealboost-Client sie einlöst (sealboost admin accept).",
        ),
        Msg::AdminInviting { by } => pick(
            l,
            &format!("ADMIN {by} invited a new admin, who joins after redeeming a one-time passphrase."),
            &format!("ADMIN {by} invitó a un nuevo admin, que se unirá al canjear una contraseña de un solo uso."),
            &format!("ADMIN {by} a invité un·e nouvel·le admin, qui rejoindra après avoir utilisé une phrase de passe à usage unique."),
            &format!("ADMIN {by} hat einen neuen Admin eingeladen, der nach dem Einlösen einer Einmal-Passphrase beitritt."),
        ),
        Msg::AddProposed { pid, approvals, needed } => pick(
            l,
            &format!("Adding an admin needs {needed} approvals: this is proposal #{pid} ({approvals} so far). The other admins approve it with sealboost proposals approve."),
            &format!("Agregar un admin necesita {needed} aprobaciones: esta es la propuesta #{pid} ({approvals} por ahora). Los demás admins la aprueban con sealboost proposals approve."),
            &format!("Ajouter un·e admin demande {needed} approbations : c'est la proposition n°{pid} ({approvals} pour l'instant). Les autres admins l'approuvent avec sealboost proposals approve."),
            &format!("Einen Admin hinzuzufügen braucht {needed} Zustimmungen: das ist Vorschlag #{pid} (bisher {approvals}). Die anderen Admins stimmen mit sealboost proposals approve zu."),
        ),
        Msg::AdminProposedAdd { by, pid, approvals, needed } => pick(
            l,
            &format!("ADMIN {by} proposes adding an admin (proposal #{pid}, {approvals} of {needed} approvals). Approve or reject it with sealboost proposals approve|reject."),
            &format!("ADMIN {by} propone agregar un admin (propuesta #{pid}, {approvals} de {needed} aprobaciones). Apruébala o recházala con sealboost proposals approve|reject."),
            &format!("ADMIN {by} propose d'ajouter un·e admin (proposition n°{pid}, {approvals} sur {needed} approbations). Approuvez ou refusez avec sealboost proposals approve|reject."),
            &format!("ADMIN {by} schlägt vor, einen Admin hinzuzufügen (Vorschlag #{pid}, {approvals} von {needed} Zustimmungen). Zustimmen oder ablehnen mit sealboost proposals approve|reject."),
        ),
        Msg::ProposalRefused => pick(
            l,
            "That change is already proposed or cannot be proposed now; see sealboost proposals list. Nothing was changed.",
            "Ese cambio ya está propuesto o no se puede proponer ahora; mira sealboost proposals list. No se cambió nada.",
            "Ce changement est déjà proposé ou ne peut pas l'être maintenant ; voir sealboost proposals list. Rien n'a été modifié.",
            "Diese Änderung ist schon vorgeschlagen oder gerade nicht möglich; siehe sealboost proposals list. Nichts wurde geändert.",
        ),
        Msg::RemoveAdminUseClient(n) => pick(
            l,
            &format!("Removing ADMIN {n} re-keys the channel, so it is done from a sealboost client: sealboost admin remove (votes apply). Nothing was changed."),
            &format!("Quitar a ADMIN {n} cambia la clave del canal, así que se hace desde un cliente sealboost: sealboost admin remove (se aplican las votaciones). No se cambió nada."),
            &format!("Retirer ADMIN {n} change la clé de la chaîne, cela se fait donc depuis un client sealboost : sealboost admin remove (les votes s'appliquent). Rien n'a été modifié."),
            &format!("ADMIN {n} zu entfernen erneuert den Schlüssel des Kanals und geschieht daher mit einem sealboost-Client: sealboost admin remove (Abstimmungen gelten). Nichts wurde geändert."),
        ),
        Msg::AdminLeaveUseClient => pick(
            l,
            "Admins hold the channel key, so an admin leaves by being removed, which re-keys the channel: ask another admin to run sealboost admin remove with your number. You are still an admin.",
            "Los admins tienen la clave del canal, así que un admin sale cuando otro lo quita, lo que cambia la clave: pide a otro admin que ejecute sealboost admin remove con tu número. Sigues siendo admin.",
            "Les admins détiennent la clé de la chaîne : un·e admin part en étant retiré·e, ce qui change la clé. Demandez à un·e autre admin de lancer sealboost admin remove avec votre numéro. Vous êtes toujours admin.",
            "Admins halten den Kanalschlüssel, daher verlässt ein Admin den Kanal, indem er entfernt wird, was den Schlüssel erneuert: bitte einen anderen Admin, sealboost admin remove mit deiner Nummer auszuführen. Du bist weiterhin Admin.",
        ),
        Msg::AdminAsksToLeave(n) => pick(
            l,
            &format!("ADMIN {n} asked to leave the channel. Remove them with sealboost admin remove (this re-keys the channel)."),
            &format!("ADMIN {n} pidió salir del canal. Quítalo con sealboost admin remove (esto cambia la clave del canal)."),
            &format!("ADMIN {n} a demandé à quitter la chaîne. Retirez ADMIN {n} avec sealboost admin remove (cela change la clé de la chaîne)."),
            &format!("ADMIN {n} möchte den Kanal verlassen. Entferne ADMIN {n} mit sealboost admin remove (das erneuert den Kanalschlüssel)."),
        ),
    }
}
