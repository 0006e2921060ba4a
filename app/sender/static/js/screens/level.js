// The seed's three levels, each with what the signer goes through, its compliance and, for the
// paid eIDAS levels, the tenant's credits available.
import { call, patchEnvelope } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

const LEVELS = ["simple", "eidas_simple", "eidas_advanced"];

export function render(app) {
  const list = h("fieldset", {}, h("legend", {}, t("level.legend")),
    LEVELS.map((level) => option(app, level, null)));
  showCredits(app, list);
  return h("section", { class: "card" },
    h("h1", { tabindex: "-1" }, t("level.heading")),
    list,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => app.back() }, t("nav.back")),
      h("button", { type: "button", class: "primary", onclick: () => app.next() }, t("nav.next"))));
}

function option(app, level, credits) {
  const available = credits?.[level]?.available;
  return h("label", { class: "choice", dataset: { level } },
    h("input", {
      type: "radio", name: "level", value: level, checked: (app.envelope.level || "simple") === level,
      onchange: () => choose(app, level),
    }),
    h("span", {},
      h("strong", {}, t(`level.${level}.title`)),
      h("small", {}, t(`level.${level}.steps`)),
      h("small", {}, t(`level.${level}.compliance`)),
      available !== undefined && h("small", { class: available > 0 ? "credits" : "credits none" },
        t("level.credits", { count: available }))));
}

async function showCredits(app, list) {
  try {
    const credits = await call("GET", "/v1/credits");
    list.replaceChildren(list.firstChild, ...LEVELS.map((level) => option(app, level, credits)));
  } catch (error) {
    app.report(error);
  }
}

async function choose(app, level) {
  try {
    app.envelope = await patchEnvelope(app.envelope.id, { level });
  } catch (error) {
    app.report(error);
  }
}
