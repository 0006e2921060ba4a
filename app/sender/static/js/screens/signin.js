// The API key, typed in once for this tab, and who sends: by email, or as a platform user.
import { call } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { session } from "../session.js";

export function render(app) {
  const key = h("input", { id: "api-key", type: "password", required: true, autocomplete: "off" });
  const who = h("input", { id: "sender", type: "text", required: true, autocomplete: "email" });
  const first = h("input", { id: "sender-first", type: "text", autocomplete: "given-name" });
  const last = h("input", { id: "sender-last", type: "text", autocomplete: "family-name" });

  async function submit(event) {
    event.preventDefault();
    const identity = sender(who.value.trim(), first.value.trim(), last.value.trim());
    session.signIn(key.value.trim(), identity);
    try {
      await call("GET", "/v1/credits"); // any authenticated read proves the key
      if (identity.user_id) await call("GET", "/v1/users/{external_id}", { params: { external_id: identity.user_id } });
    } catch (error) {
      session.signOut();
      app.report(error);
      return;
    }
    app.go("documents");
  }

  return h("form", { class: "card narrow", onsubmit: submit },
    h("h1", { tabindex: "-1" }, t("signin.heading")),
    h("p", {}, t("signin.intro")),
    field("api-key", t("signin.apiKey"), key),
    field("sender", t("signin.sender"), who, t("signin.senderHint")),
    h("div", { class: "row" },
      field("sender-first", t("person.firstName"), first),
      field("sender-last", t("person.lastName"), last)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("signin.submit"))));
}

// An address is an external person; anything else is a user id from the platform's directory.
function sender(who, firstName, lastName) {
  if (!who.includes("@")) return { user_id: who };
  return { email: who, first_name: firstName || null, last_name: lastName || null };
}

export function field(id, label, input, hint) {
  return h("p", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint && h("small", {}, hint));
}
