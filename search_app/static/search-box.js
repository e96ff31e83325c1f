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
})();
