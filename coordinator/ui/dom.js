// Building the page's elements without innerHTML: text is always set as text, never parsed.
const SVG = 'http://www.w3.org/2000/svg';

/**
 * `el('a', {href: '#', class: 'x', onclick: f}, 'text', child)`: attributes (`on*` as listeners,
 * `text` as textContent, false/undefined/null left out) and children (strings become text).
 */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

/** A short, readable time: "10:42:07" today, else the date too. */
export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

/** The last part of an ARN (the container instance id, the task id). */
export function shortArn(arn) {
  return String(arn ?? '')
    .split('/')
    .pop();
}
