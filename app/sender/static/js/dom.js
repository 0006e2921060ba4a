import { t } from "./i18n.js";

// h(): builds elements in code (no HTML strings, so nothing the API returns is ever parsed).
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    // Through the CSSOM: the CSP refuses style="" attributes, not element.style.
    else if (name === "style") Object.assign(element.style, value);
    else if (name === "value") element.value = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

// "2.1 Mo", "15 Mo": the seed's "2.1 Mo / 15 Mo"; below 0.1 Mo, kilobytes ("12 Ko"), so that
// a small file never reads "0 Mo".
export function size(bytes) {
  if (bytes > 0 && bytes < 104858) return `${Math.ceil(bytes / 1024)} ${t("unit.kb")}`;
  return `${Math.round((bytes / 1048576) * 10) / 10} ${t("unit.mb")}`;
}

export function initials(name, email) {
  const words = (name || email).split(/[\s@._-]+/).filter(Boolean);
  return words.slice(0, 2).map((word) => word[0].toUpperCase()).join("");
}

export function personName(person) {
  return [person.first_name, person.last_name].filter(Boolean).join(" ");
}
