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
  // A list's sticky header sits below the sticky navbar and, while it shows, the bulk-action bar: their
  // heights (which change when the navbar's menu opens or the bar wraps) go to CSS variables.
  var measured = typeof ResizeObserver === "function" ? new ResizeObserver(stickyOffsets) : null;
  function stickyOffsets() {
    var navbar = document.querySelector("body > nav.sticky-top");
    var root = document.documentElement.style;
    root.setProperty("--rapport-navbar-height", (navbar ? navbar.offsetHeight : 0) + "px");
    document.querySelectorAll(".bulk-bar").forEach(function (bar) {
      var height = bar.offsetHeight ? bar.offsetHeight + parseFloat(getComputedStyle(bar).marginBottom || "0") : 0;
      var form = bar.closest("form") || bar.parentElement;
      form.style.setProperty("--rapport-bulk-bar-height", height + "px");
    });
  }
  function observeStickyParts() {
    stickyOffsets();
    if (!measured) return;
    var navbar = document.querySelector("body > nav.sticky-top");
    if (navbar) measured.observe(navbar);
    document.querySelectorAll(".bulk-bar").forEach(function (bar) { measured.observe(bar); });
  }
  document.addEventListener("DOMContentLoaded", observeStickyParts);
  document.addEventListener("htmx:afterSettle", observeStickyParts);
  window.addEventListener("resize", stickyOffsets);
  // A custom field's key, made from its label: "Preferred language" → "preferred_language" (lower-case
  // letters, digits and underscores, starting with a letter, as custom_field_save requires).
  function keyFromLabel(label) {
    var key = String(label).normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/ß/g, "ss").toLowerCase();
    key = key.replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+/, "").slice(0, 50);
    return key.replace(/_+$/, "");
  }
  // The custom-field form: choices show for choice types; on a new field the key follows the label
  // until the admin types a key of their own (clearing it hands it back to the label).
  document.addEventListener("alpine:init", function () {
    window.Alpine.data("customFieldForm", function (type) {
      return {
        type: type,
        keyTyped: false,
        init: function () {
          var key = this.$refs.key;
          var label = this.$root.querySelector("input[name=label]");
          if (key && label) this.keyTyped = key.value !== "" && key.value !== keyFromLabel(label.value);
        },
        fillKey: function (label) {
          if (this.$refs.key && !this.keyTyped) this.$refs.key.value = keyFromLabel(label);
        },
      };
    });
  });
  // Ask before destructive actions marked with data-confirm.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var message = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
