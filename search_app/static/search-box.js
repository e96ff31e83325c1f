// The search box (search/index.html): a textarea that grows with its text, where Enter searches and Shift+Enter
// starts a new line. A long text (a pasted specification) is sent by POST to the document search rather than in
// the URL, which servers limit to a few kilobytes. Without JavaScript the page works as a plain form.
(function () {
  "use strict";

  var box = document.getElementById("q");
  if (!box) return;
  var form = box.form;
  var longText = parseInt(box.dataset.longText, 10) || 1500;
  var longAction = box.dataset.longAction;
  var growsByItself = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");

  function grow() {
    if (growsByItself) return;
    box.style.height = "auto";
    box.style.height = box.scrollHeight + 2 + "px";
  }

  box.addEventListener("input", function () {
    grow();
    // The "read from document « ... »" line no longer describes an edited text.
    var source = document.querySelector(".document-source");
    if (source) source.remove();
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  grow();

  // htmx requests of the search (typing, facets, pages): a long text goes by POST, with the URL's parameters.
  document.addEventListener("htmx:configRequest", function (event) {
    var detail = event.detail;
    if (detail.verb !== "get" || !longAction) return;
    var url = new URL(detail.path, window.location.href);
    if (url.origin !== window.location.origin) return;
    var params = detail.parameters;
    var text = params.q != null ? String(params.q) : url.searchParams.get("q") || "";
    if (text.length <= longText) return;
    url.searchParams.forEach(function (value, name) {
      if (params[name] == null) params[name] = url.searchParams.getAll(name);
    });
    detail.verb = "post";
    detail.path = longAction;
    detail.useUrlParams = false;
    detail.headers["Content-Type"] = "application/x-www-form-urlencoded";
  });

  // The document form carries the search's current text, filters and commune, which htmx may have changed since
  // the page was drawn.
  var documentForm = document.getElementById("document-form");
  if (documentForm && form) {
    documentForm.addEventListener("submit", function () {
      var names = {};
      Array.prototype.forEach.call(form.elements, function (element) {
        if (element.name && element.type !== "file" && element.type !== "submit") names[element.name] = true;
      });
      documentForm.querySelectorAll("input[data-carried]").forEach(function (input) {
        if (names[input.name]) input.remove();
      });
      new FormData(form).forEach(function (value, name) {
        if (!names[name] || name === "page") return;
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        input.setAttribute("data-carried", "");
        documentForm.appendChild(input);
      });
    });
  }
  // A page turn (links marked data-focus-results): the new page is read from its top, the results heading, which
  // takes the focus (made focusable, tabindex="-1") instead of leaving it on <body> at the bottom of the page.
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.elt;
    if (!trigger || !trigger.hasAttribute || !trigger.hasAttribute("data-focus-results")) return;
    var heading = document.getElementById("results-title");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.scrollIntoView({ block: "start" });
    heading.focus({ preventScroll: true });
  });

  // The disclosures that fold on a phone (details[data-fold]: the filters, the map and themes of the results): open
  // beside or above the results on wide screens, closed on a phone, where the first result would otherwise come
  // after a few screens of checkboxes and pictures. The server draws them open (the page without JavaScript); what
  // the buyer last chose is kept when htmx draws the results again, and a change of width (a phone turned) brings
  // back that width's default.
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 50rem)") : null;
  var chosen = {}; // data-fold name -> open before the last swap; absent: the width's default

  function applyFolds(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var folds = Array.prototype.slice.call(scope.querySelectorAll("details[data-fold]"));
    if (scope.matches && scope.matches("details[data-fold]")) folds.push(scope);
    folds.forEach(function (details) {
      var name = details.getAttribute("data-fold");
      details.open = name in chosen ? chosen[name] : !(narrow && narrow.matches);
    });
  }

  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("details[data-fold]").forEach(function (details) {
      chosen[details.getAttribute("data-fold")] = details.open;
    });
  });
  document.addEventListener("htmx:load", function (event) { applyFolds(event.target); });
  if (narrow) {
    var onWidth = function () { chosen = {}; applyFolds(document); };
    if (narrow.addEventListener) narrow.addEventListener("change", onWidth);
    else if (narrow.addListener) narrow.addListener(onWidth);
  }
  applyFolds(document);
})();
