// Step 1 of the seed: approval or signature, then the documents under the envelope's budget
// ("2.1 Mo / 15 Mo"), added by drag-and-drop or the file picker; refusals in words.
import { Problem, call, getEnvelope } from "../api.js";
import { h, size } from "../dom.js";
import { t } from "../i18n.js";
import { session } from "../session.js";

export function render(app) {
  const envelope = app.envelope;
  return h("section", { class: "card" },
    h("h1", { tabindex: "-1" }, t("documents.heading")),
    kindChoice(app),
    envelope && documentList(app),
    envelope && dropZone(app),
    envelope && budget(envelope),
    h("div", { class: "actions" },
      envelope && h("button", { type: "button", onclick: () => startOver(app) }, t("documents.startOver")),
      h("button", {
        type: "button", class: "primary", disabled: !envelope?.documents.length, onclick: () => app.next(),
      }, t("nav.next"))));
}

function kindChoice(app) {
  const chosen = app.envelope?.kind;
  const option = (kind) => h("label", { class: "choice" },
    h("input", {
      type: "radio", name: "kind", value: kind, checked: chosen === kind, disabled: Boolean(chosen),
      onchange: () => createDraft(app, kind),
    }),
    h("span", {}, h("strong", {}, t(`kind.${kind}.title`)), h("small", {}, t(`kind.${kind}.hint`))));
  return h("fieldset", {}, h("legend", {}, t("documents.kind")), option("approval"), option("signature"));
}

async function createDraft(app, kind) {
  const body = { kind, sender: session.sender(), locale: document.documentElement.lang };
  try {
    app.setEnvelope(await call("POST", "/v1/envelopes", { json: body }));
  } catch (error) {
    app.report(error);
    return;
  }
  app.render();
}

// The kind cannot change on a draft: starting over deletes it (the API keeps nothing of it).
async function startOver(app) {
  if (!window.confirm(t("documents.startOverConfirm"))) return;
  try {
    await call("DELETE", "/v1/envelopes/{envelope_id}", { params: { envelope_id: app.envelope.id } });
  } catch (error) {
    app.report(error);
    return;
  }
  app.setEnvelope(null);
  app.go("documents");
}

function documentList(app) {
  const rows = app.envelope.documents.map((doc) => h("li", {},
    h("span", { class: "grow" }, doc.filename),
    h("span", { class: "size" }, size(doc.size_bytes)),
    h("button", {
      type: "button", class: "icon", "aria-label": t("documents.remove", { name: doc.filename }),
      onclick: () => removeDocument(app, doc.id),
    }, "×")));
  return h("div", {},
    h("h2", {}, t(app.envelope.kind === "approval" ? "documents.listApproval" : "documents.listSignature")),
    rows.length ? h("ul", { class: "documents" }, rows) : h("p", { class: "muted" }, t("documents.none")));
}

async function removeDocument(app, documentId) {
  try {
    await call("DELETE", "/v1/envelopes/{envelope_id}/documents/{document_id}", {
      params: { envelope_id: app.envelope.id, document_id: documentId },
    });
    await app.reload();
  } catch (error) {
    app.report(error);
  }
  app.render();
}

function dropZone(app) {
  const picker = h("input", {
    id: "file-picker", type: "file", multiple: true, class: "visually-hidden",
    accept: app.envelope.kind === "signature" ? "application/pdf,.pdf" : null,
    onchange: () => addFiles(app, picker.files),
  });
  const zone = h("div", { class: "dropzone", id: "dropzone" },
    h("p", {}, t("documents.drop")),
    picker,
    h("label", { for: "file-picker", class: "button" }, t("documents.add")),
    h("p", { id: "upload-status", class: "muted", "aria-live": "polite" }));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addFiles(app, event.dataTransfer.files);
  });
  return zone;
}

// One upload at a time, in order; each refusal is said with the file's name, the rest go on.
async function addFiles(app, fileList) {
  app.clearAlert();
  const status = document.getElementById("upload-status");
  const refusals = [];
  for (const file of [...fileList]) {
    status.textContent = t("documents.uploading", { name: file.name });
    try {
      await upload(app.envelope, file);
    } catch (error) {
      refusals.push([file.name, error]);
    }
    app.envelope = await getEnvelope(app.envelope.id); // the budget left for the next file
  }
  app.render();
  for (const [name, error] of refusals) app.report(error, name, { append: true });
}

async function upload(envelope, file) {
  // Said before sending: the service would cut the upload off, and a browser whose upload is
  // cut never reads the answer that explains why.
  const { used_bytes: used, limit_bytes: limit } = envelope.size;
  if (used + file.size > limit) {
    throw new Problem(413, {
      detail: t("documents.tooBig", { size: size(file.size), left: size(limit - used), limit: size(limit) }),
    });
  }
  return call("POST", "/v1/envelopes/{envelope_id}/documents", {
    params: { envelope_id: envelope.id },
    query: { filename: file.name },
    body: file,
    headers: { "Content-Type": file.type || "application/octet-stream" },
  });
}

function budget(envelope) {
  const { used_bytes: used, limit_bytes: limit } = envelope.size;
  const words = `${size(used)} / ${size(limit)}`;
  return h("div", { class: "budget" },
    h("label", { for: "budget" }, t("documents.budget"), " ", h("strong", { id: "budget-words" }, words)),
    h("progress", { id: "budget", max: String(limit), value: String(used) }));
}
