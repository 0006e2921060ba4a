// After Send: the envelope's progress, live from its event log (polled), and each recipient's
// status. Polling stops when the screen is left or the envelope has ended.
import { call, getEnvelope } from "../api.js";
import { h, personName } from "../dom.js";
import { t } from "../i18n.js";

const POLL_MILLISECONDS = 2000;
const ENDED = new Set(["completed", "declined", "canceled", "expired", "failed"]);

export function render(app) {
  const status = h("p", { id: "envelope-status", "aria-live": "polite" });
  const people = h("ol", { class: "recipients progress", id: "progress-recipients" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-live": "polite" });
  const envelopeId = app.envelope.id;
  const shown = new Set();
  let timer = null;
  let left = false; // an answer arriving after the screen was left changes nothing
  const poll = async () => {
    try {
      const { data } = await call("GET", "/v1/envelopes/{envelope_id}/events", { params: { envelope_id: envelopeId } });
      const fresh = data.filter((event) => !shown.has(event.sequence));
      const envelope = fresh.length || !shown.size ? await getEnvelope(envelopeId) : app.envelope;
      if (left) return;
      app.envelope = envelope;
      for (const event of fresh) {
        shown.add(event.sequence);
        timeline.append(eventLine(envelope, event));
      }
      showState(envelope, status, people);
    } catch (error) {
      if (left) return;
      app.report(error);
    }
    if (!ENDED.has(app.envelope.status)) timer = setTimeout(poll, POLL_MILLISECONDS);
  };
  poll();
  app.onLeave(() => {
    left = true;
    clearTimeout(timer);
  });
  return h("section", { class: "card" },
    h("h1", { tabindex: "-1" }, t("progress.heading", { name: app.envelope.name || t("progress.unnamed") })),
    status,
    people,
    h("p", { id: "progress-said", class: "muted", "aria-live": "polite" }),
    h("h2", {}, t("progress.events")),
    timeline,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "in-progress-only", onclick: () => remind(app) }, t("progress.remind")),
      h("button", { type: "button", class: "in-progress-only", onclick: () => cancel(app) }, t("progress.cancel")),
      h("button", { type: "button", class: "primary", onclick: () => {
        app.setEnvelope(null);
        app.go("documents");
      } }, t("progress.new"))));
}

// The recipient whose turn it is gets the invitation again (the API allows one per cool-down).
async function remind(app) {
  try {
    const reminded = await call("POST", "/v1/envelopes/{envelope_id}/remind", { params: { envelope_id: app.envelope.id } });
    const recipient = app.envelope.recipients.find((item) => item.id === reminded.recipient_id);
    document.getElementById("progress-said").textContent = t("progress.reminded", { who: recipient?.email || "" });
  } catch (error) {
    app.report(error);
  }
}

async function cancel(app) {
  if (!window.confirm(t("progress.cancelConfirm"))) return;
  try {
    app.envelope = await call("POST", "/v1/envelopes/{envelope_id}/cancel", { params: { envelope_id: app.envelope.id }, json: {} });
  } catch (error) {
    app.report(error);
  }
}

function showState(envelope, status, people) {
  status.textContent = t(`status.${envelope.status}`);
  status.dataset.status = envelope.status;
  for (const button of document.querySelectorAll(".in-progress-only")) button.hidden = envelope.status !== "in_progress";
  people.replaceChildren(...envelope.recipients.map((recipient) => h("li", { dataset: { status: recipient.status } },
    h("span", { class: "grow" }, personName(recipient) || recipient.email,
      personName(recipient) && h("small", {}, " ", recipient.email)),
    h("span", { class: `pill ${recipient.status}` }, t(`recipientStatus.${recipient.status}`)))));
}

function eventLine(envelope, event) {
  const recipient = envelope.recipients.find((item) => item.id === event.data?.recipient_id);
  const when = new Date(event.occurred_at).toLocaleString(document.documentElement.lang);
  const label = t(`event.${event.type}`, { who: recipient ? personName(recipient) || recipient.email : "" });
  return h("li", { dataset: { type: event.type } },
    h("time", { datetime: event.occurred_at }, when), " ", label === `event.${event.type}` ? event.type : label);
}
