// What the browser keeps for this tab only (sessionStorage: gone when the tab closes): the API
// key typed in once, who the sender is, the envelope being built, the language chosen.
const store = window.sessionStorage;

function read(name) {
  const text = store.getItem(`cachet.${name}`);
  return text === null ? null : JSON.parse(text);
}

function write(name, value) {
  if (value === null) store.removeItem(`cachet.${name}`);
  else store.setItem(`cachet.${name}`, JSON.stringify(value));
}

export const session = {
  apiKey: () => read("apiKey"),
  sender: () => read("sender"),
  envelopeId: () => read("envelopeId"),
  locale: () => read("locale"),
  signIn(apiKey, sender) {
    write("apiKey", apiKey);
    write("sender", sender);
  },
  signOut() {
    for (const name of ["apiKey", "sender", "envelopeId"]) write(name, null);
  },
  setEnvelopeId: (id) => write("envelopeId", id),
  setLocale: (locale) => write("locale", locale),
};
