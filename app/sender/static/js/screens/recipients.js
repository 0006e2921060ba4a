// Step 2.1 of the seed: recipients by email or platform user id (looked up in the directory),
// "Add me as signer", the order by drag-and-drop (and by buttons, for the keyboard), names after
// the email, distribution, the envelope's name and comment, and the invitation's preview.
import { Problem, call, getEnvelope, patchEnvelope } from "../api.js";
import { h, personName } from "../dom.js";
import { dragWithPointer } from "../drag.js";
import { t } from "../i18n.js";

export function render(app) {
  const envelope = app.envelope;
  const role = envelope.kind === "approval" ? "approver" : "signer";
  const preview = h("div", { id: "preview" });
  return h("section", { class: "card" },
    h("h1", { tabindex: "-1" }, t("recipients.heading")),
    textField(app, "name", t("recipients.name"), t("recipients.namePlaceholder")),
    textField(app, "message", t("recipients.message"), "", true),
    finder(app),
    toggle(app, "sender_signs_first", t(`recipients.addMe.${role}`)),
    recipientList(app),
    h("p", { class: "note" }, t("recipients.cascade")),
    envelope.kind === "signature" && toggle(app, "distribute_to_signers", t("recipients.distribute")),
    toggle(app, "sender_copy", t("recipients.senderCopy")),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => loadPreview(app) }, t("recipients.preview"))),
    preview,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => app.back() }, t("nav.back")),
      h("button", { type: "button", class: "primary", disabled: !envelope.recipients.length, onclick: () => app.next() },
        t(envelope.kind === "signature" ? "recipients.placeStamps" : "nav.next"))));
}

// The name and the comment are saved as they are typed away from, like every other field here.
function textField(app, name, label, placeholder, multiline = false) {
  const id = `envelope-${name}`;
  const save = async (event) => {
    try {
      app.envelope = await patchEnvelope(app.envelope.id, { [name]: event.target.value.trim() || null });
    } catch (error) {
      app.report(error);
    }
  };
  const input = multiline
    ? h("textarea", { id, rows: "3", onchange: save }, app.envelope[name] || "")
    : h("input", { id, type: "text", placeholder, value: app.envelope[name] || "", onchange: save });
  return h("p", { class: "field" }, h("label", { for: id }, label), input);
}

function toggle(app, name, label) {
  const id = `toggle-${name}`;
  return h("p", { class: "check" },
    h("input", {
      id, type: "checkbox", checked: app.envelope[name],
      onchange: async (event) => {
        try {
          app.envelope = await patchEnvelope(app.envelope.id, { [name]: event.target.checked });
        } catch (error) {
          app.report(error);
          event.target.checked = app.envelope[name];
        }
        // Only "add me" changes the list; other ticks leave the screen as it is.
        if (name === "sender_signs_first") app.render();
      },
    }),
    h("label", { for: id }, label));
}

// An address adds an external person; anything else is looked up as a platform user id. While
// the sender types, the directory is searched (by part of a name, an email or an id) and its
// matches offered as suggestions; picking one puts its id in the field.
function finder(app) {
  const suggestions = h("datalist", { id: "directory" });
  const input = h("input", { id: "recipient-search", type: "text", autocomplete: "off", list: "directory", "aria-describedby": "recipient-found" });
  const found = h("p", { id: "recipient-found", class: "muted", "aria-live": "polite" });
  let match = null;
  let timer = null;
  const lookUp = async () => {
    const text = input.value.trim();
    match = null;
    found.textContent = "";
    if (!text) return;
    if (text.includes("@")) {
      match = { email: text };
      return;
    }
    try {
      const user = await call("GET", "/v1/users/{external_id}", { params: { external_id: text } });
      match = { user_id: user.external_id };
      found.textContent = t("recipients.found", { name: personName(user) || user.email, email: user.email });
    } catch (error) {
      found.textContent = error instanceof Problem && error.status === 404 ? t("recipients.notFound") : error.message;
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => Promise.all([lookUp(), suggest(input.value.trim(), suggestions)]), 250);
  });
  const add = async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    await lookUp();
    if (match) await addRecipient(app, match);
  };
  return h("form", { class: "finder", onsubmit: add },
    h("label", { for: "recipient-search" }, t("recipients.search")),
    h("div", { class: "row" }, input, suggestions, h("button", { type: "submit" }, t("recipients.add"))),
    found);
}

async function suggest(text, suggestions) {
  if (text.length < 2) {
    suggestions.replaceChildren();
    return;
  }
  try {
    const page = await call("GET", "/v1/users", { query: { q: text, limit: 8 } });
    suggestions.replaceChildren(...page.data.map((user) =>
      h("option", { value: user.external_id }, `${personName(user) || user.email} — ${user.email}`)));
  } catch {
    suggestions.replaceChildren();  // suggestions are a help: the exact lookup still works
  }
}

async function addRecipient(app, who) {
  try {
    await call("POST", "/v1/envelopes/{envelope_id}/recipients", { params: { envelope_id: app.envelope.id }, json: who });
    app.envelope = await getEnvelope(app.envelope.id);
  } catch (error) {
    app.report(error);
    return;
  }
  app.clearAlert();
  app.render();
  document.getElementById("recipient-search")?.focus();
}

function recipientList(app) {
  const list = h("ol", { class: "recipients", id: "recipients" });
  list.append(...app.envelope.recipients.map((recipient) => recipientRow(app, list, recipient)));
  return list;
}

function recipientRow(app, list, recipient) {
  const eidas = app.envelope.level && app.envelope.level !== "simple";
  // The sender stays first while "add me" is ticked: the API refuses any other order.
  const pinned = recipient.is_sender && app.envelope.sender_signs_first;
  const row = h("li", {
    class: "recipient", dataset: { id: recipient.id, position: String(recipient.position), pinned: pinned ? "yes" : "no" },
  },
    h("span", {
      class: "handle", "aria-hidden": "true", title: t("recipients.drag"),
      onpointerdown: pinned ? null : (event) => dragRow(app, list, row, event),
    }, pinned ? "" : "⠿"),
    h("span", { class: "who" },
      h("strong", {}, recipient.email),
      recipient.is_sender && h("small", {}, t("recipients.you"))),
    nameInput(app, recipient, "first_name", t("person.firstName")),
    nameInput(app, recipient, "last_name", t("person.lastName")),
    eidas && nameInput(app, recipient, "phone", t("person.phone")),
    h("span", { class: "row-buttons" },
      !pinned && h("button", { type: "button", class: "icon", "aria-label": t("recipients.up", { email: recipient.email }),
        onclick: () => move(app, recipient.id, -1) }, "↑"),
      !pinned && h("button", { type: "button", class: "icon", "aria-label": t("recipients.down", { email: recipient.email }),
        onclick: () => move(app, recipient.id, 1) }, "↓"),
      !recipient.is_sender && h("button", { type: "button", class: "icon", "aria-label": t("recipients.remove", { email: recipient.email }),
        onclick: () => removeRecipient(app, recipient.id) }, "×")));
  return row;
}

// Names come after the email (the seed); the sender's own are the envelope's sender's.
function nameInput(app, recipient, field, label) {
  const id = `${field}-${recipient.id}`;
  return h("span", { class: "field inline" },
    h("label", { for: id, class: "visually-hidden" }, `${label} (${recipient.email})`),
    h("input", {
      id, type: field === "phone" ? "tel" : "text", placeholder: label, value: recipient[field] || "",
      readonly: recipient.is_sender && field !== "phone",
      onchange: async (event) => {
        try {
          await call("PATCH", "/v1/envelopes/{envelope_id}/recipients/{recipient_id}", {
            params: { envelope_id: app.envelope.id, recipient_id: recipient.id },
            json: { [field]: event.target.value.trim() || null },
          });
          app.envelope = await getEnvelope(app.envelope.id);
        } catch (error) {
          app.report(error);
        }
      },
    }));
}

// While dragging, the row moves among its siblings; where it is let go is the new order.
function dragRow(app, list, row, event) {
  row.classList.add("dragging");
  dragWithPointer(event, {
    onMove: (moved) => {
      const others = [...list.children].filter((other) => other !== row && other.dataset.pinned === "no");
      const before = others.find((other) => {
        const box = other.getBoundingClientRect();
        return moved.clientY < box.top + box.height / 2;
      });
      if (before?.previousElementSibling !== row) list.insertBefore(row, before || null);
    },
    onDrop: () => {
      row.classList.remove("dragging");
      saveOrder(app, [...list.children].map((item) => item.dataset.id));
    },
  });
}

function move(app, recipientId, step) {
  const ids = app.envelope.recipients.map((recipient) => recipient.id);
  const from = ids.indexOf(recipientId);
  const to = from + step;
  if (to < 0 || to >= ids.length) return;
  if (app.envelope.sender_signs_first && app.envelope.recipients[to].is_sender) return;
  [ids[from], ids[to]] = [ids[to], ids[from]];
  saveOrder(app, ids);
}

async function saveOrder(app, recipientIds) {
  try {
    app.envelope = await call("PUT", "/v1/envelopes/{envelope_id}/recipients/order", {
      params: { envelope_id: app.envelope.id }, json: { recipient_ids: recipientIds },
    });
  } catch (error) {
    app.report(error);
  }
  app.render();
}

async function removeRecipient(app, recipientId) {
  try {
    await call("DELETE", "/v1/envelopes/{envelope_id}/recipients/{recipient_id}", {
      params: { envelope_id: app.envelope.id, recipient_id: recipientId },
    });
    app.envelope = await getEnvelope(app.envelope.id);
  } catch (error) {
    app.report(error);
  }
  app.render();
}

// The first invitation exactly as it will be sent. Its text version is shown: the HTML one
// carries inline styles that this page's CSP (rightly) refuses to apply. It goes into the
// screen as it is when the answer comes (a save may have drawn the screen again meanwhile).
async function loadPreview(app) {
  try {
    const preview = await call("GET", "/v1/envelopes/{envelope_id}/preview", { params: { envelope_id: app.envelope.id } });
    const email = preview.invitation;
    document.getElementById("preview")?.replaceChildren(email
      ? h("article", { class: "preview", "aria-label": t("recipients.preview") },
        h("p", {}, h("strong", {}, t("preview.to")), " ", email.to),
        h("p", {}, h("strong", {}, t("preview.subject")), " ", email.subject),
        h("pre", {}, email.text))
      : h("p", { class: "muted" }, t("preview.none")));
  } catch (error) {
    app.report(error);
  }
}
