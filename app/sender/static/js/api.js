// The only module that talks to the service. Every call names its method and its path template
// exactly as openapi/openapi.json writes them (tests/sender checks each against the document),
// so the screens use nothing an integrator could not.
import { session } from "./session.js";
import { t } from "./i18n.js";

// An RFC 9457 problem: `message` is the API's `detail`, the refusal in words, followed by each
// field's own words when the body did not match the schema.
export class Problem extends Error {
  constructor(status, body) {
    const detail = body.detail || body.title || t("error.http", { status });
    const fields = (body.errors || []).map((error) => `${error.pointer} : ${error.detail}`);
    super(fields.length ? `${detail} (${fields.join(" ; ")})` : detail);
    this.status = status;
    this.body = body;
  }
}

// `as: "blob"` for a binary answer (a page image); JSON otherwise.
export async function call(method, template, { params = {}, query = {}, json, body, headers = {}, as = "json" } = {}) {
  const url = new URL(fillPath(template, params), window.location.origin);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const init = { method, headers: { Authorization: `Bearer ${session.apiKey()}`, ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    // The service cuts an upload over the budget before answering: the browser sees no answer.
    throw new Problem(0, { detail: t("error.network") });
  }
  if (response.status === 204) return null;
  if (as === "blob" && response.ok) return response.blob();
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

function fillPath(template, params) {
  return template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
}

// The envelope, read again after every change: it carries the badges, the size and the blockers.
export function getEnvelope(envelopeId) {
  return call("GET", "/v1/envelopes/{envelope_id}", { params: { envelope_id: envelopeId } });
}

export function patchEnvelope(envelopeId, fields) {
  return call("PATCH", "/v1/envelopes/{envelope_id}", { params: { envelope_id: envelopeId }, json: fields });
}
