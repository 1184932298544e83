// connlogs: the list page's keyboard. j/k move between rows (a visible focus on the row),
// Enter opens the focused row's detail page, f toggles Follow, t switches UTC/local time,
// e downloads the CSV export, ? lists the shortcuts ("/" to search is in app.js). Keys are
// ignored while typing in a field or with a modifier held.
(function () {
  "use strict";

  function typing(element) {
    if (!element) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    var plain = ["checkbox", "radio", "button", "submit", "reset"];
    return tag === "INPUT" && plain.indexOf((element.type || "").toLowerCase()) === -1;
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.logs tr.log"));
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    var row = all[next];
    row.tabIndex = -1;
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function press(selector) {
    var element = document.querySelector(selector);
    if (element && !element.disabled) element.click();
  }

  var ACTIONS = {
    j: function () { move(1); },
    k: function () { move(-1); },
    f: function () { press("[data-follow]"); },
    t: function () { press('.segmented button[aria-pressed="false"]'); },
    e: function () { press("[data-export]"); },
    "?": function () {
      var dialog = document.querySelector("[data-shortcuts]");
      if (dialog && !dialog.open) dialog.showModal();
    },
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]") && event.key !== "Escape") return;
    var row = event.target.closest && event.target.closest("tr.log[data-href]");
    if (event.key === "Enter" && row) {
      event.preventDefault();
      window.location.href = row.dataset.href;
      return;
    }
    var action = ACTIONS[event.key];
    if (!action || !document.querySelector("table.logs, [data-follow]")) return;
    event.preventDefault();
    action();
  });
})();
