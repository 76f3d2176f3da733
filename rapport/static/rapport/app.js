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
  // Ask before destructive actions marked with data-confirm.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var message = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
