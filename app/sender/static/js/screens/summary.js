// Step 2.3 of the seed: the recipients in the order they will act, what still blocks the send
// (every reason, in words), and Send.
import { call } from "../api.js";
import { h, initials } from "../dom.js";
import { t } from "../i18n.js";

export function render(app) {
  const envelope = app.envelope;
  const lines = h("ul", { class: "summary", id: "summary" });
  const blockers = h("div", { id: "blockers" });
  const send = h("button", { type: "button", class: "primary", id: "send", disabled: true, onclick: () => sendEnvelope(app, send) },
    t(envelope.kind === "approval" ? "summary.sendApproval" : "summary.sendSignature"));
  load(app, lines, blockers, send);
  return h("section", { class: "card" },
    h("h1", { tabindex: "-1" }, t("summary.heading")),
    h("p", {}, t("summary.recipients")),
    lines,
    h("p", { class: "muted" }, t("summary.documents", { count: envelope.documents.length }),
      " ", envelope.documents.map((doc) => doc.filename).join(", ")),
    blockers,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => app.back() }, t("nav.back")),
      send));
}

async function load(app, lines, blockers, send) {
  try {
    const envelope = await app.reload();
    const preview = await call("GET", "/v1/envelopes/{envelope_id}/preview", { params: { envelope_id: envelope.id } });
    lines.replaceChildren(...preview.recipients.map((line) => h("li", {},
      h("span", { class: "avatar", "aria-hidden": "true" }, initials(line.name, line.email)),
      h("span", {}, line.name && h("strong", {}, line.name), " ", line.email,
        line.is_sender && h("small", {}, ` — ${t("recipients.you")}`)))));
    blockers.replaceChildren(envelope.blockers.length
      ? h("div", { class: "blockers" }, h("h2", {}, t("summary.blockers")),
        h("ul", {}, envelope.blockers.map((blocker) => h("li", { dataset: { code: blocker.code } }, blockerWords(envelope, blocker)))))
      : "");
    send.disabled = !envelope.ready_to_send;
  } catch (error) {
    app.report(error);
  }
}

// In the screen's language when the catalogue knows the reason; the API's words otherwise.
function blockerWords(envelope, blocker) {
  const doc = envelope.documents.find((item) => item.id === blocker.document_id);
  const recipient = envelope.recipients.find((item) => item.id === blocker.recipient_id);
  const words = t(`blocker.${blocker.code}`, { document: doc?.filename, recipient: recipient?.email });
  return words === `blocker.${blocker.code}` ? blocker.detail : words;
}

async function sendEnvelope(app, button) {
  button.disabled = true;
  try {
    // One key per click: a retried request cannot send twice.
    app.envelope = await call("POST", "/v1/envelopes/{envelope_id}/send", {
      params: { envelope_id: app.envelope.id }, headers: { "Idempotency-Key": crypto.randomUUID() },
    });
  } catch (error) {
    app.report(error);
    button.disabled = false;
    return;
  }
  app.go("progress");
}
