// Small DOM helpers shared by every panel.

export const $ = (selector) => document.querySelector(selector);

export function showError(element, error) {
  if (!error) {
    element.hidden = true;
    element.textContent = "";
    return;
  }
  element.textContent = error.message;
  if (error.code) {
    const code = document.createElement("code");
    code.textContent = ` (${error.status} ${error.code})`;
    element.append(code);
  }
  element.hidden = false;
}

export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function fillSelect(select, options, keep = true) {
  const previous = select.value;
  select.replaceChildren(
    ...options.map(([value, label]) => {
      const option = element("option", label);
      option.value = value;
      return option;
    }),
  );
  if (keep && options.some(([value]) => value === previous)) select.value = previous;
}
