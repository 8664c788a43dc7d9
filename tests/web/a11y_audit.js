// Accessibility audit of the current page, run in the browser by tests/web/test_accessibility.py.
// Own checks (no third-party engine): accessible names of form controls, image alternatives, one h1, the
// page language, text contrast from computed styles (WCAG 2.1 relative luminance), horizontal overflow.
// Returns {problems: [...], focusable: [ids]}; focusable elements get a data-a11y attribute for the Tab walk.
(expectedLang) => {
  const problems = [];
  const describe = (el) => {
    const id = el.id ? `#${el.id}` : "";
    const name = el.getAttribute("name") ? `[name=${el.getAttribute("name")}]` : "";
    const text = (el.innerText || el.value || "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${name} "${text}"`;
  };
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") return false;
    const r = el.getBoundingClientRect();
    // visually hidden text (screen-reader only, skip link until focused) is not seen, so has no contrast
    if (r.width <= 1 || r.height <= 1 || r.right < 0 || r.bottom < 0) return false;
    return true;
  };

  // 1. language and headings
  const lang = document.documentElement.getAttribute("lang");
  if (lang !== expectedLang) problems.push(`html lang is ${lang}, expected ${expectedLang}`);
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(`${h1} h1 elements, expected exactly one`);
  if (!document.title.trim()) problems.push("empty title");

  // 2. every form control has an accessible name
  const nameOf = (el) => {
    const aria = el.getAttribute("aria-label");
    if (aria && aria.trim()) return aria.trim();
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\s+/).map((i) => document.getElementById(i)).filter(Boolean)
        .map((e) => e.textContent.trim()).join(" ");
      if (text) return text;
    }
    if (el.labels && el.labels.length) {
      const text = Array.from(el.labels).map((l) => l.textContent.trim()).join(" ");
      if (text) return text;
    }
    if (el.tagName === "BUTTON" || el.tagName === "SUMMARY") return el.textContent.trim();
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return (el.value || "").trim();
    if (el.tagName === "INPUT" && el.type === "image") return (el.alt || "").trim();
    return (el.getAttribute("title") || "").trim();
  };
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden") continue;
    if (!nameOf(el)) problems.push(`no accessible name: ${describe(el)}`);
  }
  for (const a of document.querySelectorAll("a[href]")) {
    if (!a.textContent.trim() && !a.getAttribute("aria-label") && !a.querySelector("img[alt]:not([alt=''])"))
      problems.push(`link without text: ${describe(a)}`);
  }

  // 3. images have a text alternative
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push(`img without alt: ${img.getAttribute("src")}`);
  }

  // 4. text contrast >= 4.5:1 (WCAG 2.1 SC 1.4.3), colours from computed styles, alpha composited
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[,\s/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg.a > 0) {
        layers.push(bg);
        if (bg.a >= 1) break;
      }
    }
    let colour = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const luminance = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (!el || seen.has(el) || ["SCRIPT", "STYLE", "OPTION", "NOSCRIPT"].includes(el.tagName)) continue;
    seen.add(el);
    if (!visible(el) || el.closest("[disabled]")) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}:1 < 4.5:1 (${style.color} on rgb(${Math.round(bg.r)},${Math.round(bg.g)},${Math.round(bg.b)})): ${describe(el)}`);
  }

  // 5. no horizontal scrolling of the page
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    const wide = Array.from(document.body.querySelectorAll("*"))
      .filter((e) => e.getBoundingClientRect().right > width + 1 && visible(e))
      .slice(0, 3).map(describe);
    problems.push(`horizontal scroll: page is ${document.documentElement.scrollWidth}px wide in ${width}px (${wide.join("; ")})`);
  }

  // 6. the elements Tab must reach, tagged for the walk
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]";
  const focusable = [];
  let index = 0;
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled || el.getAttribute("tabindex") === "-1" || !el.getClientRects().length) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (el.closest("details:not([open])") && el.tagName !== "SUMMARY") continue;
    // radio buttons of one group are one Tab stop (arrow keys move inside it)
    if (el.type === "radio") {
      const group = document.querySelectorAll(`input[type=radio][name="${el.name}"]`);
      if (el !== Array.from(group).find((r) => r.checked) && el !== group[0]) continue;
      if (Array.from(group).some((r) => r.checked) && !el.checked) continue;
    }
    el.setAttribute("data-a11y", String(index));
    focusable.push({ id: String(index), what: describe(el) });
    index += 1;
  }
  return { problems, focusable };
}
