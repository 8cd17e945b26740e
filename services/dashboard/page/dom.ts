/**
 * Building the document. Text goes in as text nodes, never as markup: a run
 * id, a worker's name or a trial's parameters come from users, and an
 * element is only ever made from a tag name written in this code.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    // Event handlers are never attributes here: they are added with addEventListener.
    if (value === null || value === undefined || value === false || /^on/i.test(name)) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** A link inside the page: the route is built from encoded parts, so an id cannot become a script URL. */
export function link(route: string[], ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: `#/${route.map(encodeURIComponent).join('/')}` }, ...children);
}
