// Step 2.2 of the seed, "Place the signatures": the documents on the left with their badge
// (clock: stamps missing; green tick: every signer has one), the chosen document's pages in the
// middle, and on the right one stamp per signer to drag onto a page, plain or with text.
// Coordinates are PDF points from the top-left corner of the page as displayed, as the API wants.
import { call, getEnvelope } from "../api.js";
import { h, personName } from "../dom.js";
import { dragWithPointer } from "../drag.js";
import { t } from "../i18n.js";

// A new stamp's size in points: above the API's minimum (85 x 37), room for a name and a line.
const STAMP = { width: 180, height: 60 };

let chosenDocumentId = null;
let style = "plain";
let stampText = "";

export function render(app) {
  const envelope = app.envelope;
  const current = envelope.documents.find((doc) => doc.id === chosenDocumentId) || envelope.documents[0];
  chosenDocumentId = current.id;
  if (!textAllowed(envelope)) style = "plain";
  return h("section", { class: "card wide" },
    h("h1", { tabindex: "-1" }, t("stamps.heading")),
    h("div", { class: "stamps-layout" },
      documentList(app, current),
      pages(app, current),
      palette(app, current)),
    h("p", { class: "note" }, t("stamps.onePerDocument")),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => app.back() }, t("nav.back")),
      h("button", { type: "button", class: "primary", onclick: () => app.next() }, t("stamps.validate"))));
}

const textAllowed = (envelope) => (envelope.level || "simple") === "simple";
const signers = (envelope) => envelope.recipients.filter((recipient) => recipient.role === "signer");
const signerLabel = (signer) => personName(signer) || signer.email;

function documentList(app, current) {
  return h("nav", { class: "stamp-documents", "aria-label": t("stamps.documents") },
    h("h2", {}, t("stamps.documents")),
    h("ul", {}, app.envelope.documents.map((doc) => h("li", {},
      h("button", {
        type: "button", class: "document-tab", "aria-pressed": String(doc.id === current.id),
        dataset: { documentId: doc.id },
        onclick: () => {
          chosenDocumentId = doc.id;
          app.render();
        },
      }, badge(doc.stamps), h("span", {}, doc.filename))))));
}

function badge(state) {
  const complete = state === "complete";
  return h("span", {
    class: complete ? "badge complete" : "badge pending", role: "img",
    "aria-label": t(complete ? "stamps.complete" : "stamps.pending"), title: t(complete ? "stamps.complete" : "stamps.pending"),
    dataset: { stamps: state },
  }, complete ? "✓" : "◷");
}

// Each page is a sheet with the page's real proportions, the page's image drawn by the service
// behind the stamps, which sit on it in percent.
function pages(app, doc) {
  const count = doc.pages.length;
  const widest = Math.max(...doc.pages.map((page) => page.width));
  return h("div", { class: "pages" }, doc.pages.map((page, index) => {
    // One scale for the whole document: a landscape page shows wider than a portrait one.
    const sheet = h("div", {
      class: "page", dataset: { page: String(index + 1), width: String(page.width) },
      "aria-label": t("stamps.page", { page: index + 1, count }),
      style: { aspectRatio: `${page.width} / ${page.height}`, width: `${(page.width / widest) * 100}%` },
    });
    showPageImage(app, doc, index + 1, sheet);
    sheet.append(...doc.stamp_placements
      .filter((stamp) => stamp.page === index + 1)
      .map((stamp) => placedStamp(app, doc, stamp)));
    return h("figure", {}, sheet, h("figcaption", {}, t("stamps.page", { page: index + 1, count })));
  }));
}

function placedStamp(app, doc, stamp) {
  const signer = app.envelope.recipients.find((recipient) => recipient.id === stamp.recipient_id);
  const page = doc.pages[stamp.page - 1];
  const box = h("div", {
    class: "stamp placed", dataset: { recipientId: stamp.recipient_id },
    style: {
      left: `${(stamp.x / page.width) * 100}%`, top: `${(stamp.y / page.height) * 100}%`,
      width: `${(stamp.width / page.width) * 100}%`, height: `${(stamp.height / page.height) * 100}%`,
    },
  },
  h("span", { class: "stamp-name" }, signer ? signerLabel(signer) : ""),
  stamp.text && h("span", { class: "stamp-text" }, stamp.text),
  h("button", {
    type: "button", class: "icon remove", "aria-label": t("stamps.remove", { name: signer ? signerLabel(signer) : "" }),
    onpointerdown: (event) => event.stopPropagation(),
    onclick: () => removeStamp(app, doc, stamp.recipient_id),
  }, "×"));
  // Moving a placed stamp keeps its size, style and text.
  box.addEventListener("pointerdown", (event) => {
    const rect = box.getBoundingClientRect();
    drag(app, doc, event, stamp, { x: event.clientX - rect.left, y: event.clientY - rect.top }, box);
  });
  return box;
}

function palette(app, doc) {
  const envelope = app.envelope;
  const placed = new Set(doc.stamp_placements.map((stamp) => stamp.recipient_id));
  return h("aside", { class: "palette", "aria-label": t("stamps.palette") },
    h("h2", {}, t("stamps.palette")),
    styleChoice(envelope),
    h("ul", {}, signers(envelope).map((signer, index) => {
      const fresh = () => ({ recipient_id: signer.id, ...STAMP, style, text: style === "with_text" ? stampText : null });
      return h("li", {},
        h("div", {
          class: placed.has(signer.id) ? "stamp source placed-here" : "stamp source",
          dataset: { recipientId: signer.id }, title: t("stamps.dragHint"),
          role: "button", tabindex: "0", "aria-label": t("stamps.placeByKey", { name: signerLabel(signer) }),
          onpointerdown: (event) => drag(app, doc, event, fresh(), null, null,
            () => placeAtFoot(app, doc, fresh(), index)),
          onkeydown: (event) => {
            if (event.key !== "Enter" && event.key !== " ") return;
            event.preventDefault();
            placeAtFoot(app, doc, fresh(), index);
          },
        }, h("span", { class: "stamp-name" }, signerLabel(signer)), placed.has(signer.id) && h("span", { class: "tick" }, " ✓")));
    })));
}

// Without a drag (Enter, or a tap on a phone): the stamp goes at the foot of page 1, two signers
// to a row, so that signers placed this way do not overlap; it can be dragged elsewhere later.
function placeAtFoot(app, doc, stamp, index) {
  const page = doc.pages[0];
  const x = 36 + (index % 2) * (stamp.width + 20);
  const y = page.height - 36 - stamp.height - Math.floor(index / 2) * (stamp.height + 10);
  saveStamp(app, doc, stamp, 1, x, y);
}

function styleChoice(envelope) {
  if (!textAllowed(envelope)) return h("p", { class: "note" }, t("stamps.noTextAtEidas"));
  const text = h("input", {
    id: "stamp-text", type: "text", maxlength: "60", value: stampText || t("stamps.defaultText"),
    disabled: style !== "with_text", oninput: (event) => { stampText = event.target.value; },
  });
  stampText = text.value;
  const option = (value) => h("label", { class: "check" },
    h("input", {
      type: "radio", name: "stamp-style", value, checked: style === value,
      onchange: () => {
        style = value;
        text.disabled = value !== "with_text";
      },
    }), t(`stamps.style.${value}`));
  return h("fieldset", {}, h("legend", {}, t("stamps.style")), option("plain"), option("with_text"),
    h("label", { for: "stamp-text" }, t("stamps.text")), text);
}

// A drag from the palette or of a placed stamp: a ghost at the page's scale follows the pointer;
// released over a page, the stamp goes where the ghost's top-left corner is, kept on the page.
function drag(app, doc, event, stamp, grab, original, onTap = () => {}) {
  const scale = pixelsPerPoint(document.querySelector(".page"));
  const size = { width: stamp.width * scale, height: stamp.height * scale };
  const offset = grab || { x: size.width / 2, y: size.height / 2 };
  const ghost = h("div", { class: "stamp ghost", style: { width: `${size.width}px`, height: `${size.height}px` } });
  original?.classList.add("moving");
  dragWithPointer(event, {
    ghost, grab: offset,
    onDrop: (released, travelled) => {
      original?.classList.remove("moving");
      if (travelled < 4) {
        onTap();
        return;
      }
      const target = document.elementsFromPoint(released.clientX, released.clientY)
        .find((element) => element.classList.contains("page"));
      if (target) putStamp(app, doc, stamp, target, released.clientX - offset.x, released.clientY - offset.y);
    },
  });
}

function pixelsPerPoint(sheet) {
  return sheet.getBoundingClientRect().width / Number(sheet.dataset.width);
}

function putStamp(app, doc, stamp, sheet, left, top) {
  const rect = sheet.getBoundingClientRect();
  const scale = pixelsPerPoint(sheet);
  saveStamp(app, doc, stamp, Number(sheet.dataset.page), (left - rect.left) / scale, (top - rect.top) / scale);
}

// x and y in points from the page's top-left corner, kept on the page, to a tenth of a point.
async function saveStamp(app, doc, stamp, pageNumber, x, y) {
  const page = doc.pages[pageNumber - 1];
  const clamp = (value, most) => Math.round(Math.min(Math.max(value, 0), most) * 10) / 10;
  const body = {
    page: pageNumber,
    x: clamp(x, page.width - stamp.width),
    y: clamp(y, page.height - stamp.height),
    width: stamp.width, height: stamp.height, style: stamp.style,
  };
  if (stamp.style === "with_text") body.text = stamp.text;
  try {
    await call("PUT", "/v1/envelopes/{envelope_id}/documents/{document_id}/stamps/{recipient_id}", {
      params: { envelope_id: app.envelope.id, document_id: doc.id, recipient_id: stamp.recipient_id }, json: body,
    });
    app.clearAlert();
  } catch (error) {
    app.report(error);
  }
  await refresh(app);
}

async function removeStamp(app, doc, recipientId) {
  try {
    await call("DELETE", "/v1/envelopes/{envelope_id}/documents/{document_id}/stamps/{recipient_id}", {
      params: { envelope_id: app.envelope.id, document_id: doc.id, recipient_id: recipientId },
    });
  } catch (error) {
    app.report(error);
  }
  await refresh(app);
}

async function refresh(app) {
  app.envelope = await getEnvelope(app.envelope.id);
  app.render();
}


// The image needs the API key, so it is fetched, then shown from memory (blob:). Until it
// arrives, or if it cannot be drawn, the sheet stays white: placing stamps never waits for it.
async function showPageImage(app, doc, page, sheet) {
  try {
    const png = await call("GET", "/v1/envelopes/{envelope_id}/documents/{document_id}/pages/{page}.png", {
      params: { envelope_id: app.envelope.id, document_id: doc.id, page },
      as: "blob",
    });
    const image = h("img", { class: "page-image", alt: "", draggable: "false", src: URL.createObjectURL(png) });
    image.addEventListener("load", () => URL.revokeObjectURL(image.src), { once: true });
    sheet.prepend(image);
  } catch {
    // A white sheet is still a place for stamps.
  }
}
