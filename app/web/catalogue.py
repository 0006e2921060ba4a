"""Every word of the signing page, in French and English: one catalogue, one key per string.

The page is in the recipient's locale (set by the sender, the envelope's by default). The
server writes the strings of that locale into the page; sign.js takes every string from them.
`{name}` placeholders are filled by the script. Texts the API itself writes (the consent
statement) come from the API, in the same locale.
"""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("fr", "en")
DEFAULT_LOCALE: Final = "fr"

EN: Final[dict[str, str]] = {
    "title": "Sign documents",
    "title_approval": "Approve documents",
    "loading": "Loading…",
    "noscript": "This page needs JavaScript to show the documents and record your signature.",
    "from_sender": "From {name}",
    "untitled": "Untitled envelope",
    "steps_heading": "Your steps",
    "step_email": "Email address, confirmed by the link",
    "step_sms": "Code received by SMS",
    "step_identity": "Identity check",
    "step_sign": "Signature",
    "step_approve": "Approval",
    "status_done": "done",
    "status_pending": "to do now",
    "status_blocked": "later",
    "documents_heading": "Documents",
    "document_select": "Document",
    "page_of": "Page {page} of {count}",
    "previous_page": "Previous page",
    "next_page": "Next page",
    "zoom_in": "Zoom in",
    "zoom_out": "Zoom out",
    "zoom_level": "{percent} %",
    "page_alt": "Page {page} of {filename}",
    "page_loading": "Loading the page…",
    "stamp_mine": "Your signature goes here",
    "stamp_other": "Signer {position}",
    "not_shown": "This file cannot be shown here: download it to read it.",
    "download": "Download {filename}",
    "sms_heading": "Confirm your phone",
    "sms_intro": "We send a 6-digit code by SMS to {phone}.",
    "send_code": "Send code",
    "code_sent": "Code sent to {phone}. It is valid for 5 minutes.",
    "code_label": "Code received by SMS",
    "verify": "Verify",
    "resend": "Resend code",
    "resend_in": "Resend code in {seconds} s",
    "code_format": "Enter the 6 digits of the code.",
    "identity_heading": "Check your identity",
    "identity_intro": "An identity provider checks your identity document. Open its page, "
    "follow its steps, then come back here: this page goes on by itself.",
    "identity_start": "Check my identity",
    "identity_open": "Open the identity check",
    "identity_waiting": "Waiting for the result of the check…",
    "identity_review": "The provider's staff are reviewing your document. This page goes on "
    "when they have decided.",
    "identity_declined": "The check did not succeed. Checks left: {attempts}.",
    "sign_heading": "Your signature",
    "approve_heading": "Your approval",
    "signature_mode": "How to sign",
    "draw": "Draw",
    "type": "Type",
    "pad_label": "Signature pad",
    "pad_hint": "Draw your signature with a mouse, a finger or a pen.",
    "typed_name": "Your name, as your signature",
    "clear": "Clear",
    "consent_label": "I agree: I sign these documents electronically",
    "sign": "Sign",
    "approve": "Approve",
    "comment_label": "Comment (optional)",
    "decline": "Decline",
    "decline_heading": "Decline the envelope",
    "decline_reason": "Why do you decline?",
    "decline_confirm": "Confirm decline",
    "cancel": "Cancel",
    "need_consent": "Tick the box to agree before signing.",
    "need_signature": "Draw or type your signature first.",
    "need_reason": "Say why you decline.",
    "signing": "Signing the documents… This takes a few seconds.",
    "done_signed": "You have signed. Thank you.",
    "done_approved": "You have approved. Thank you.",
    "done_declined": "You have declined this envelope. The sender has been told.",
    "downloads_heading": "Your documents",
    "completed_note": "Everyone has acted: these are the final documents.",
    "in_progress_note": "Other recipients still have to act; the final documents will be "
    "sent to you or shown here once they have.",
    "not_your_turn_heading": "Not your turn yet",
    "not_your_turn": "Another recipient has to act before you. You will be told when it is "
    "your turn.",
    "ended_heading": "This envelope has ended",
    "ended": "It was declined, canceled or has expired: there is nothing more to do.",
    "unknown_heading": "Unknown link",
    "unknown": "This link is not valid. Check that you opened it whole, or ask the sender "
    "for a new one.",
    "blocked_heading": "Signing is blocked",
    "sms_blocked": "Too many wrong codes, or a phone number that cannot receive them. The "
    "sender has been told and can unlock it.",
    "error_generic": "Something went wrong. Try again in a moment.",
    "error_network": "The service cannot be reached. Check your connection and try again.",
    "error_otp_invalid": "Wrong code. Tries left for this code: {attempts_left}.",
    "error_otp_expired": "This code has expired. Ask for a new one.",
    "error_otp_used": "This code was replaced by a newer one: enter the last code received.",
    "error_otp_locked": "Too many wrong codes: signing is locked. The sender can unlock it by "
    "sending you a reminder.",
    "error_otp_rate_limited": "Wait a little before asking for another code.",
    "error_phone_unreachable": "Your phone number cannot receive the code. The sender has "
    "been told and can correct it.",
    "error_otp_required": "Confirm your phone with the SMS code first.",
    "error_identity_required": "Check your identity first.",
    "error_identity_mismatch": "The names on your document are not the ones the sender gave. "
    "The sender has been told and can correct them.",
    "error_identity_attempts_exhausted": "No identity check is left for you.",
    "error_identity_provider_unavailable": "The identity provider does not answer. Try again "
    "in a moment.",
    "error_not_your_turn": "Another recipient has to act before you.",
    "error_already_acted": "You have already acted on this envelope.",
    "error_envelope_ended": "This envelope has ended: there is nothing more to do.",
    "error_consent_required": "Tick the box to agree before signing.",
    "error_invalid_signature_image": "Your signature could not be read. Clear it and sign again.",
    "error_signature_in_progress": "Your signature is being applied.",
    "error_session_expired": "Your session has expired. Reload the page.",
}

FR: Final[dict[str, str]] = {
    "title": "Signer des documents",
    "title_approval": "Valider des documents",
    "loading": "Chargement…",
    "noscript": "Cette page a besoin de JavaScript pour afficher les documents et enregistrer "
    "votre signature.",
    "from_sender": "De la part de {name}",
    "untitled": "Enveloppe sans nom",
    "steps_heading": "Vos étapes",
    "step_email": "Adresse e-mail, confirmée par le lien",
    "step_sms": "Code reçu par SMS",
    "step_identity": "Vérification d'identité",
    "step_sign": "Signature",
    "step_approve": "Validation",
    "status_done": "fait",
    "status_pending": "à faire maintenant",
    "status_blocked": "plus tard",
    "documents_heading": "Documents",
    "document_select": "Document",
    "page_of": "Page {page} sur {count}",
    "previous_page": "Page précédente",
    "next_page": "Page suivante",
    "zoom_in": "Agrandir",
    "zoom_out": "Réduire",
    "zoom_level": "{percent} %",
    "page_alt": "Page {page} de {filename}",
    "page_loading": "Chargement de la page…",
    "stamp_mine": "Votre signature ici",
    "stamp_other": "Signataire {position}",
    "not_shown": "Ce fichier ne peut pas être affiché ici : téléchargez-le pour le lire.",
    "download": "Télécharger {filename}",
    "sms_heading": "Confirmez votre téléphone",
    "sms_intro": "Nous envoyons un code à 6 chiffres par SMS au {phone}.",
    "send_code": "Envoyer le code",
    "code_sent": "Code envoyé au {phone}. Il est valable 5 minutes.",
    "code_label": "Code reçu par SMS",
    "verify": "Vérifier",
    "resend": "Renvoyer le code",
    "resend_in": "Renvoyer le code dans {seconds} s",
    "code_format": "Saisissez les 6 chiffres du code.",
    "identity_heading": "Vérifiez votre identité",
    "identity_intro": "Un prestataire vérifie votre pièce d'identité. Ouvrez sa page, suivez "
    "ses étapes, puis revenez ici : cette page continue d'elle-même.",
    "identity_start": "Vérifier mon identité",
    "identity_open": "Ouvrir la vérification d'identité",
    "identity_waiting": "En attente du résultat de la vérification…",
    "identity_review": "Le personnel du prestataire examine votre document. Cette page "
    "continue dès qu'il a décidé.",
    "identity_declined": "La vérification n'a pas abouti. Vérifications restantes : {attempts}.",
    "sign_heading": "Votre signature",
    "approve_heading": "Votre validation",
    "signature_mode": "Comment signer",
    "draw": "Dessiner",
    "type": "Écrire",
    "pad_label": "Zone de signature",
    "pad_hint": "Dessinez votre signature à la souris, au doigt ou au stylet.",
    "typed_name": "Votre nom, comme signature",
    "clear": "Effacer",
    "consent_label": "J'accepte : je signe ces documents électroniquement",
    "sign": "Signer",
    "approve": "Approuver",
    "comment_label": "Commentaire (facultatif)",
    "decline": "Refuser",
    "decline_heading": "Refuser l'enveloppe",
    "decline_reason": "Pourquoi refusez-vous ?",
    "decline_confirm": "Confirmer le refus",
    "cancel": "Annuler",
    "need_consent": "Cochez la case pour accepter avant de signer.",
    "need_signature": "Dessinez ou écrivez d'abord votre signature.",
    "need_reason": "Indiquez pourquoi vous refusez.",
    "signing": "Signature des documents en cours… Cela prend quelques secondes.",
    "done_signed": "Vous avez signé. Merci.",
    "done_approved": "Vous avez approuvé. Merci.",
    "done_declined": "Vous avez refusé cette enveloppe. L'expéditeur a été prévenu.",
    "downloads_heading": "Vos documents",
    "completed_note": "Tout le monde a agi : voici les documents définitifs.",
    "in_progress_note": "D'autres destinataires doivent encore agir ; les documents définitifs "
    "vous seront envoyés ou montrés ici ensuite.",
    "not_your_turn_heading": "Ce n'est pas encore votre tour",
    "not_your_turn": "Un autre destinataire doit agir avant vous. Vous serez prévenu quand ce "
    "sera votre tour.",
    "ended_heading": "Cette enveloppe est terminée",
    "ended": "Elle a été refusée, annulée ou a expiré : il n'y a plus rien à faire.",
    "unknown_heading": "Lien inconnu",
    "unknown": "Ce lien n'est pas valide. Vérifiez que vous l'avez ouvert en entier, ou "
    "demandez-en un nouveau à l'expéditeur.",
    "blocked_heading": "La signature est bloquée",
    "sms_blocked": "Trop de codes erronés, ou un numéro qui ne peut pas les recevoir. "
    "L'expéditeur a été prévenu et peut la débloquer.",
    "error_generic": "Une erreur est survenue. Réessayez dans un instant.",
    "error_network": "Le service est injoignable. Vérifiez votre connexion et réessayez.",
    "error_otp_invalid": "Code erroné. Essais restants pour ce code : {attempts_left}.",
    "error_otp_expired": "Ce code a expiré. Demandez-en un nouveau.",
    "error_otp_used": "Ce code a été remplacé par un plus récent : saisissez le dernier code reçu.",
    "error_otp_locked": "Trop de codes erronés : la signature est bloquée. L'expéditeur peut la "
    "débloquer en vous envoyant une relance.",
    "error_otp_rate_limited": "Patientez un peu avant de demander un autre code.",
    "error_phone_unreachable": "Votre numéro ne peut pas recevoir le code. L'expéditeur a été "
    "prévenu et peut le corriger.",
    "error_otp_required": "Confirmez d'abord votre téléphone avec le code reçu par SMS.",
    "error_identity_required": "Vérifiez d'abord votre identité.",
    "error_identity_mismatch": "Les noms de votre pièce d'identité ne sont pas ceux donnés par "
    "l'expéditeur. Il a été prévenu et peut les corriger.",
    "error_identity_attempts_exhausted": "Il ne vous reste plus de vérification d'identité.",
    "error_identity_provider_unavailable": "Le prestataire d'identité ne répond pas. "
    "Réessayez dans un instant.",
    "error_not_your_turn": "Un autre destinataire doit agir avant vous.",
    "error_already_acted": "Vous avez déjà agi sur cette enveloppe.",
    "error_envelope_ended": "Cette enveloppe est terminée : il n'y a plus rien à faire.",
    "error_consent_required": "Cochez la case pour accepter avant de signer.",
    "error_invalid_signature_image": "Votre signature n'a pas pu être lue. Effacez-la et "
    "signez à nouveau.",
    "error_signature_in_progress": "Votre signature est en cours d'application.",
    "error_session_expired": "Votre session a expiré. Rechargez la page.",
}

CATALOGUE: Final[dict[str, dict[str, str]]] = {"fr": FR, "en": EN}


def strings_for(locale: str) -> dict[str, str]:
    return CATALOGUE.get(locale, CATALOGUE[DEFAULT_LOCALE])


def locale_from_accept_language(header: str | None) -> str:
    """For a link that names no recipient: the browser's first language we have."""
    for part in (header or "").split(","):
        language = part.split(";")[0].strip().lower()[:2]
        if language in CATALOGUE:
            return language
    return DEFAULT_LOCALE
