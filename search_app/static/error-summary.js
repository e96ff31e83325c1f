// A form sent back with errors: the focus goes to its error summary (profiles/_macros.html error_summary, a
// tabindex="-1" box listing each error as a link to its field), so that keyboard and screen-reader users start
// there rather than at the top of the page. Loaded by base.html on every page (CSP: scripts from 'self' only).
(function () {
  "use strict";

  function focusSummary() {
    var summary = document.querySelector(".error-summary");
    if (!summary) return;
    if (!summary.hasAttribute("tabindex")) summary.setAttribute("tabindex", "-1");
    summary.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", focusSummary);
  else focusSummary();
})();
