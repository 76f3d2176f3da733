// Rapport's page behaviour that Bootstrap, htmx and Alpine.js don't cover.
(function () {
  "use strict";
  // Close the global search drop-down on Escape or a click elsewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var results = document.getElementById("global-search-results");
      if (results) results.innerHTML = "";
    }
  });
  document.addEventListener("click", function (event) {
    var results = document.getElementById("global-search-results");
    if (results && !event.target.closest(".global-search")) results.innerHTML = "";
  });
  // Arrow keys move between the global search box and its results.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var box = document.getElementById("global-search");
    var results = document.getElementById("global-search-results");
    if (!box || !results || !(event.target === box || results.contains(event.target))) return;
    var links = Array.prototype.slice.call(results.querySelectorAll("a"));
    if (!links.length) return;
    event.preventDefault();
    var index = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown") {
      links[Math.min(index + 1, links.length - 1)].focus();
    } else if (index <= 0) {
      box.focus();
    } else {
      links[index - 1].focus();
    }
  });
  // Keep list URLs short and shareable: leave out empty filters, the default sort, and the column
  // list when it is the default one (sent as one comma-separated "cols").
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-clean-query")) return;
    var data = event.detail.formData;
    var names = [];
    data.forEach(function (_value, name) { if (names.indexOf(name) < 0) names.push(name); });
    var defaults = (form.dataset.defaultColumns || "").split(",").filter(function (c) { return c && c !== "name"; });
    names.forEach(function (name) {
      var values = data.getAll(name).filter(function (v) { return String(v).trim() !== ""; });
      data.delete(name);
      if (name === "cols") {
        var same = values.length === defaults.length && values.every(function (v) { return defaults.indexOf(v) >= 0; });
        if (!same) data.append("cols", values.length ? values.join(",") : "name");
      } else if (!(name === "ordering" && values.length === 1 && values[0] === "name")) {
        values.forEach(function (v) { data.append(name, v); });
      }
    });
  });
  // Ask before destructive actions marked with data-confirm.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var message = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
