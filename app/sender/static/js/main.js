// The shell: which screen shows, the steps bar, the alert line, the language and sign-out.
// Each screen module exports render(app) -> element, and may return a cleanup through app.onLeave.
import { Problem, getEnvelope } from "./api.js";
import { h } from "./dom.js";
import { locale, setLocale, t } from "./i18n.js";
import { session } from "./session.js";
import * as signin from "./screens/signin.js";
import * as documents from "./screens/documents.js";
import * as level from "./screens/level.js";
import * as recipients from "./screens/recipients.js";
import * as stamps from "./screens/stamps.js";
import * as summary from "./screens/summary.js";
import * as progress from "./screens/progress.js";

const SCREENS = { signin, documents, level, recipients, stamps, summary, progress };

// The seed's order. Approval envelopes have no level and no stamps.
function flow(envelope) {
  if (envelope?.kind === "approval") return ["documents", "recipients", "summary", "progress"];
  return ["documents", "level", "recipients", "stamps", "summary", "progress"];
}

const app = {
  envelope: null,
  screen: "signin",
  leave: null,

  async reload() {
    this.envelope = await getEnvelope(this.envelope.id);
    return this.envelope;
  },
  setEnvelope(envelope) {
    this.envelope = envelope;
    session.setEnvelopeId(envelope ? envelope.id : null);
  },
  go(screen) {
    this.clearAlert();
    this.screen = screen;
    this.render();
    // A new screen is announced by its heading (headings have tabindex -1 for this).
    document.querySelector("#screen h1")?.focus();
  },
  next() {
    const steps = flow(this.envelope);
    this.go(steps[steps.indexOf(this.screen) + 1]);
  },
  back() {
    const steps = flow(this.envelope);
    this.go(steps[steps.indexOf(this.screen) - 1]);
  },
  onLeave(cleanup) {
    this.leave = cleanup;
  },
  // A refusal in words: the API's problem detail, or what the browser knows went wrong.
  report(error, prefix = "", { append = false } = {}) {
    const words = error instanceof Problem ? error.message : t("error.unexpected");
    if (!(error instanceof Problem)) console.error(error);
    const line = h("p", {}, prefix ? t("error.about", { what: prefix, words }) : words);
    const alert = document.getElementById("alert");
    if (append) alert.append(line);
    else alert.replaceChildren(line);
  },
  clearAlert() {
    document.getElementById("alert").textContent = "";
  },
  render() {
    this.leave?.();
    this.leave = null;
    document.documentElement.lang = locale();
    document.getElementById("title").textContent = title(this.envelope);
    renderBar();
    renderSteps(this.screen, this.envelope);
    const screen = document.getElementById("screen");
    screen.replaceChildren(SCREENS[this.screen].render(this));
  },
};

function title(envelope) {
  if (!envelope) return t("app.title");
  return t(envelope.kind === "approval" ? "kind.approval.title" : "kind.signature.title");
}

function renderBar() {
  const other = locale() === "fr" ? "en" : "fr";
  const language = h("button", { type: "button", class: "link", lang: other, onclick: () => {
    setLocale(other);
    session.setLocale(other);
    app.render();
  } }, t("app.otherLanguage"));
  const signOut = session.apiKey() && h("button", { type: "button", class: "link", onclick: () => {
    session.signOut();
    app.envelope = null;
    app.go("signin");
  } }, t("app.signOut"));
  document.getElementById("bar-actions").replaceChildren(language, signOut || "");
}

function renderSteps(current, envelope) {
  const nav = document.getElementById("steps");
  if (current === "signin") {
    nav.replaceChildren();
    return;
  }
  const items = flow(envelope).map((step) =>
    h("li", { "aria-current": step === current ? "step" : null }, t(`step.${step}`)));
  nav.replaceChildren(h("ol", { "aria-label": t("step.label") }, items));
}

// A reload of the tab finds the envelope where it was: a draft to finish, or one to follow.
async function resume() {
  const envelopeId = session.envelopeId();
  if (!session.apiKey()) return "signin";
  if (!envelopeId) return "documents";
  try {
    app.envelope = await getEnvelope(envelopeId);
  } catch {
    session.setEnvelopeId(null);
    return "documents";
  }
  return app.envelope.status === "draft" ? "documents" : "progress";
}

// A file dropped beside the drop zone would make the browser open it in place of the screens.
for (const name of ["dragover", "drop"]) window.addEventListener(name, (event) => event.preventDefault());

setLocale(session.locale() || "fr");
app.go(await resume());
