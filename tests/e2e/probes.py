"""Checks computed inside the page (JavaScript for ``page.evaluate``), shared by the e2e modules."""

from __future__ import annotations

from typing import Any

CONTRAST = """(groups) => {
    const parse = (c) => {
        let m = c.match(/^rgba?\\(([^)]*)\\)$/);
        if (m) {
            const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
            return [p[0] / 255, p[1] / 255, p[2] / 255, p.length > 3 ? p[3] : 1];
        }
        m = c.match(/^color\\(srgb ([^)]*)\\)$/);
        if (m) {
            const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(Number);
            return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
        }
        throw new Error('unparsed colour ' + c);
    };
    const over = (top, below) => top.slice(0, 3).map((v, i) => v * top[3] + below[i] * (1 - top[3]))
        .concat([1]);
    const lum = (c) => {
        const lin = c.slice(0, 3)
            .map((v) => v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    };
    const background = (el) => {
        const chain = [];
        for (let n = el; n; n = n.parentElement) chain.push(getComputedStyle(n).backgroundColor);
        let bg = [1, 1, 1, 1];  // the canvas
        for (let i = chain.length - 1; i >= 0; i--) bg = over(parse(chain[i]), bg);
        return bg;
    };
    const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.data.trim());
    const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v * 255).toString(16)
        .padStart(2, '0')).join('');
    const out = {};
    for (const [name, selector] of Object.entries(groups)) {
        let min = Infinity, worst = null, count = 0;
        for (const el of document.querySelectorAll(selector)) {
            if (!ownText(el) || !el.getClientRects().length) continue;
            let opacity = 1;
            for (let n = el; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
            const bg = background(el);
            const fg = parse(getComputedStyle(el).color);
            const seen = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
            const [a, b] = [lum(seen), lum(bg)];
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            count++;
            if (ratio < min) {
                min = ratio;
                worst = {text: el.textContent.slice(0, 40), color: hex(seen), background: hex(bg),
                         css: getComputedStyle(el).color};
            }
        }
        out[name] = {count, min, worst};
    }
    return out;
}"""
"""WCAG contrast of each element's own text against its effective (composited) background:
``{group: {count, min, worst}}`` for ``{group: selector}``."""

INERT = """(root) => {
    const scope = root ? document.querySelector(root) : document;
    const bad = [];
    for (const el of scope.querySelectorAll('*')) {
        const tag = el.tagName.toLowerCase();
        if (['script', 'iframe', 'img', 'object', 'embed', 'frame', 'form', 'base', 'link',
             'meta', 'style'].includes(tag) && scope !== document) bad.push('<' + tag + '>');
        for (const attr of el.attributes) {
            if (attr.name.startsWith('on')) bad.push(tag + ' ' + attr.name);
        }
        if (tag === 'a' && el.hasAttribute('href')) {  // its scheme, as a browser reads it
            const href = el.getAttribute('href').replace(/[\x00-\x20\x7f]/g, '');
            if (!/^(https?|mailto):/i.test(href)) bad.push('href ' + el.getAttribute('href'));
        }
    }
    return {bad, xss: window.__xss === undefined ? null : window.__xss};
}"""
"""Active content under ``root`` (a selector; the whole document when empty)."""


def contrast(page: Any, groups: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(CONTRAST, groups)
    return result
