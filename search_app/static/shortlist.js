/* Vivier shortlist (« Ma sélection »), without an account.
 *
 * The list is a JSON array of supplier slugs in localStorage under "vivier.shortlist", mirrored in the header link
 * (/selection?ids=a,b,c), which is also the share link. Loaded with `defer` from base.html: no inline script, the
 * Content-Security-Policy allows scripts from 'self' only. Clicks are handled on the document, so results that
 * htmx swaps in work without re-binding.
 *
 * Opening a /selection?ids=... page MERGES its suppliers into the list kept on this device (it never replaces
 * it, so a colleague's link cannot wipe your own selection); a merged supplier's old slug is replaced by the
 * slug it resolves to. /selection without ids shows the list kept on this device.
 */
(function () {
  "use strict";

  var KEY = "vivier.shortlist";
  var DEFAULT_MAX = 200; // same cap as the server (search_app/views/shortlist.py MAX_IDS), read from the header link
  var MAX_ID_CHARS = 120; // Supplier.slug length
  var memory = []; // when localStorage is unavailable (storage disabled), the list lasts for the page

  function maxIds() {
    var link = document.getElementById("shortlist-link");
    var max = link ? parseInt(link.getAttribute("data-max"), 10) : NaN;
    return max > 0 ? max : DEFAULT_MAX;
  }

  function clean(list) {
    var seen = {};
    var out = [];
    (Array.isArray(list) ? list : []).forEach(function (id) {
      if (typeof id === "string" && id && id.length <= MAX_ID_CHARS && !seen["$" + id]) {
        seen["$" + id] = true;
        out.push(id);
      }
    });
    return out.slice(0, maxIds());
  }

  function read() {
    try {
      var raw = window.localStorage.getItem(KEY);
      return raw === null ? memory.slice() : clean(JSON.parse(raw));
    } catch (e) {
      return memory.slice();
    }
  }

  function write(list) {
    memory = clean(list);
    try {
      window.localStorage.setItem(KEY, JSON.stringify(memory));
    } catch (e) {
      /* storage full or disabled: keep the in-page copy */
    }
    render();
  }

  function pathOf(element, fallback) {
    return ((element && element.getAttribute("href")) || fallback).split("?")[0];
  }

  function selectionUrl(list) {
    var base = pathOf(document.getElementById("shortlist-link"), "/selection");
    return list.length ? base + "?ids=" + list.map(encodeURIComponent).join(",") : base;
  }

  function announce(text) {
    var status = document.getElementById("shortlist-status");
    if (!status) return;
    status.textContent = "";
    // A fresh text node after a pause, so that screen readers repeat an identical message.
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function render() {
    var list = read();
    var link = document.getElementById("shortlist-link");
    if (link) link.setAttribute("href", selectionUrl(list));
    var count = document.getElementById("shortlist-count");
    if (count) count.textContent = String(list.length);
    var buttons = document.querySelectorAll("button[data-shortlist-add]");
    for (var i = 0; i < buttons.length; i++) {
      var selected = list.indexOf(buttons[i].getAttribute("data-id")) !== -1;
      buttons[i].setAttribute("aria-pressed", selected ? "true" : "false");
      buttons[i].textContent = selected ? "Retirer de la sélection" : "Ajouter à la sélection";
    }
  }

  function toggle(button) {
    var id = button.getAttribute("data-id");
    var list = read();
    var at = list.indexOf(id);
    if (at !== -1) {
      list.splice(at, 1);
      write(list);
      announce("Retiré de la sélection (" + list.length + ")");
    } else if (list.length >= maxIds()) {
      announce("Sélection pleine : " + maxIds() + " fournisseurs au plus.");
    } else {
      list.push(id);
      write(list);
      announce("Ajouté à la sélection (" + list.length + ")");
    }
  }

  function copyLink(anchor) {
    navigator.clipboard.writeText(anchor.href).then(
      function () { announce("Lien de partage copié."); },
      function () { announce("Copie impossible : copiez l'adresse de cette page pour la partager."); }
    );
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target || event.defaultPrevented) return;
    var add = target.closest("button[data-shortlist-add]");
    if (add) {
      event.preventDefault(); // without JavaScript, the button opens /selection?ids=<slug>
      toggle(add);
      return;
    }
    var remove = target.closest("[data-shortlist-remove]");
    if (remove) {
      // Forget it here; the button's form then asks the server for the list without it.
      var id = remove.getAttribute("data-id");
      write(read().filter(function (other) { return other !== id; }));
      return;
    }
    var copy = target.closest("a[data-shortlist-copy]");
    if (copy && navigator.clipboard && window.isSecureContext) {
      event.preventDefault(); // otherwise the link opens the share address itself, ready to copy
      copyLink(copy);
      return;
    }
    if (target.closest("button[data-print]")) {
      event.preventDefault();
      window.print();
    }
  });

  function splitIds(value) {
    return (value || "").split(",").filter(Boolean);
  }

  function syncSelectionPage() {
    var page = document.getElementById("shortlist");
    if (!page) return;
    var local = read();
    if (!page.hasAttribute("data-asked")) {
      // /selection without ids: show the list kept on this device.
      if (local.length) window.location.replace(selectionUrl(local));
      return;
    }
    var found = splitIds(page.getAttribute("data-ids"));
    var shown = found.concat(splitIds(page.getAttribute("data-missing")));
    var aliases = {};
    try {
      aliases = JSON.parse(page.getAttribute("data-aliases") || "{}") || {};
    } catch (e) {
      aliases = {};
    }
    var mapped = clean(local.map(function (id) {
      return Object.prototype.hasOwnProperty.call(aliases, id) ? aliases[id] : id;
    }));
    var merged = clean(mapped.concat(found));
    if (JSON.stringify(merged) !== JSON.stringify(local)) write(merged);
    var added = merged.length - mapped.length;
    if (added > 0) {
      announce(added + (added > 1 ? " fournisseurs ajoutés" : " fournisseur ajouté") +
               " à votre sélection (" + merged.length + ")");
    }
    var others = merged.filter(function (id) { return shown.indexOf(id) === -1; });
    var more = document.getElementById("shortlist-more");
    if (more && others.length) {
      var all = more.querySelector("a[data-shortlist-all]");
      if (all) all.setAttribute("href", selectionUrl(merged));
      more.hidden = false;
    }
  }

  function init() {
    var prints = document.querySelectorAll("button[data-print]");
    for (var i = 0; i < prints.length; i++) prints[i].hidden = false; // printing needs JavaScript
    render();
    syncSelectionPage();
  }

  document.addEventListener("htmx:afterSwap", render);
  document.addEventListener("htmx:historyRestore", render);
  window.addEventListener("storage", function (event) {
    if (event.key === KEY || event.key === null) render();
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) render(); // back/forward cache: the list may have changed on another page
  });
  init();
})();
