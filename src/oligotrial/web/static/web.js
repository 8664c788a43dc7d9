// oligotrial web pages: the live previews of the forms and the CTCAE term search. Own code, no library.
"use strict";
(function () {
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function el(tag, text, cls) { var n = document.createElement(tag); if (text !== undefined) { n.textContent = text; } if (cls) { n.className = cls; } return n; }

  function showErrors(form, errors) {
    // the preview re-checks every field: earlier messages (from the server or a previous preview) give way
    form.querySelectorAll(".field-error").forEach(function (n) { if (!n.closest(".reason")) { n.remove(); } });
    Object.keys(errors || {}).forEach(function (name) {
      var target = name ? form.querySelector('[name="' + name.replace(/"/g, "") + '"]') : null;
      var p = el("p", errors[name].join(" "), "field-error live-error");
      if (target && target.parentNode) { target.parentNode.appendChild(p); }
    });
  }

  function renderPreview(box, data) {
    clear(box);
    if (data.errors && data.errors[""]) { box.appendChild(el("p", data.errors[""].join(" "), "field-error")); }
    if (data.verdict_label) { box.appendChild(el("p", data.verdict_label, "verdict verdict-" + data.verdict)); }
    if (data.rows && data.rows.length) {
      var table = el("table"), head = el("thead"), tr = el("tr");
      (data.headers || []).forEach(function (h) { var th = el("th", h); th.scope = "col"; tr.appendChild(th); });
      head.appendChild(tr); table.appendChild(head);
      var body = el("tbody");
      data.rows.forEach(function (r) {
        var row = el("tr", undefined, "row-" + String(r.status || "").replace(/ /g, "-"));
        r.cells.forEach(function (c) { row.appendChild(el("td", c)); });
        body.appendChild(row);
      });
      table.appendChild(body); box.appendChild(table);
    }
    if (data.caveat) { box.appendChild(el("p", data.caveat, "hint")); }
  }

  function setupPreview(form) {
    var url = form.getAttribute("data-preview"), box = document.getElementById("preview"), timer = null, seq = 0;
    if (!url || !box) { return; }
    function run() {
      var mine = ++seq;
      fetch(url, { method: "POST", body: new FormData(form), headers: { "X-CSRF-Token": form.getAttribute("data-csrf") }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (mine === seq) { showErrors(form, data.errors); renderPreview(box, data); box.setAttribute("data-ready", String(mine)); } })
        .catch(function () {});
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 250); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(run, 50); });
  }

  function setupCtcae(input) {
    var list = document.getElementById("ctcae-terms"), box = document.getElementById("grade-definitions"), timer = null;
    function search() {
      if (input.value.length < 2) { return; }
      fetch("/ctcae/search?q=" + encodeURIComponent(input.value), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          clear(list);
          data.terms.forEach(function (t) { var o = document.createElement("option"); o.value = t.term; o.label = t.soc; list.appendChild(o); });
        }).catch(function () {});
    }
    function grades() {
      if (!box || !input.value) { return; }
      fetch("/ctcae/term?term=" + encodeURIComponent(input.value), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          clear(box);
          if (!data.found) { box.appendChild(el("p", data.message, "hint")); return; }
          var dl = el("dl"); dl.setAttribute("lang", "en");
          var any = false;
          Object.keys(data.grades).forEach(function (g) {
            if (data.grades[g]) { any = true; dl.appendChild(el("dt", g)); dl.appendChild(el("dd", data.grades[g])); }
          });
          box.appendChild(any ? dl : el("p", data.no_text, "hint"));
        }).catch(function () {});
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, 200); });
    input.addEventListener("change", grades);
    if (input.value) { grades(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-preview]").forEach(setupPreview);
    document.querySelectorAll("input[data-ctcae]").forEach(setupCtcae);
  });
})();
