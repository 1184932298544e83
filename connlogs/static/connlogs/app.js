// connlogs: small progressive enhancements. Every feature also works with JavaScript off
// (forms are GET forms, pages are links); this only saves clicks.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var form = document.getElementById("filters");

    // Menus apply as soon as they change (the server writes them into q).
    if (form) {
      form.querySelectorAll("[data-autosubmit]").forEach(function (control) {
        control.addEventListener("change", function () { form.requestSubmit(); });
      });
      var range = form.querySelector("[data-range]");
      var custom = form.querySelector("[data-custom-range]");
      if (range && custom) {
        range.addEventListener("change", function () {
          if (range.value === "custom") {
            custom.removeAttribute("data-collapsed");
            var from = custom.querySelector("input");
            if (from) from.focus();
          } else {
            form.requestSubmit();
          }
        });
      }
    }

    // "/" jumps to the search box, as in most log viewers.
    var q = document.getElementById("q");
    document.addEventListener("keydown", function (event) {
      if (!q || event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      var tag = (event.target.tagName || "").toLowerCase();
      if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
      event.preventDefault();
      q.focus();
      q.select();
    });

    // The "Local" time button carries the browser's zone.
    document.querySelectorAll("[data-local-tz]").forEach(function (button) {
      try {
        var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
        if (zone) {
          button.value = zone;
          if (button.getAttribute("aria-pressed") !== "true") button.title = "Show times in " + zone;
        }
      } catch (e) { /* keep UTC */ }
    });

    // A whole table row opens its detail page (the time is the real link). Delegated, so
    // rows that Follow adds later open too.
    document.addEventListener("click", function (event) {
      var row = event.target.closest && event.target.closest("tr[data-href]");
      if (!row || event.target.closest("a, button, input, select")) return;
      if (window.getSelection && String(window.getSelection())) return;
      if (event.metaKey || event.ctrlKey) window.open(row.dataset.href, "_blank");
      else window.location.href = row.dataset.href;
    });

    // Copy buttons next to ids and addresses.
    if (navigator.clipboard) {
      document.querySelectorAll("[data-copyable]").forEach(function (element) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "copy-btn";
        button.title = "Copy";
        button.setAttribute("aria-label", "Copy " + element.textContent);
        button.innerHTML = '<svg class="icon" aria-hidden="true"><use href="#i-copy"></use></svg>';
        button.addEventListener("click", function () {
          navigator.clipboard.writeText(element.textContent).then(function () {
            button.title = "Copied";
          });
        });
        element.after(button);
      });
    }
  });
})();
