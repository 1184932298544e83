// connlogs: the list page's saved views. Saving, renaming, deleting and choosing the start
// view go through the API (/api/v2/connectionlog/views, /start-view) with the session and
// its CSRF token, so the server checks every permission exactly as for any API client; the
// menu itself is plain links (?view=…) that work without JavaScript.
(function () {
  "use strict";

  var API = "/api/v2/connectionlog/";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function call(method, path, body) {
    return fetch(API + path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) return {};
      return response.json().then(function (answer) {
        if (response.ok) return answer;
        var details = (answer.validations || []).map(function (v) { return v.field + ": " + v.detail; });
        throw new Error([answer.message || answer.detail || response.status].concat(details).join(" "));
      });
    });
  }

  function openView(id) {
    window.location.href = "/connectionlog?view=" + encodeURIComponent(id);
  }

  function complain(error) { window.alert(error.message); }

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var form = document.querySelector("[data-save-form]");
    if (form) {
      var name = form.querySelector("[data-save-name]");
      var problem = form.querySelector("[data-save-error]");
      var save = function () {
        var sharing = form.querySelector("[data-save-sharing]").value;
        var body = { name: name.value.trim(), q: document.getElementById("q").defaultValue };
        if (sharing.indexOf("organization:") === 0) {
          body.sharing = "organization";
          body.organization = sharing.slice("organization:".length);
        } else {
          body.sharing = sharing;
        }
        var start = form.querySelector("[data-save-start]").checked;
        call("POST", "views", body)
          .then(function (view) {
            return start ? call("PUT", "start-view", { view: view.id }).then(function () { return view; }) : view;
          })
          .then(function (view) { openView(view.id); })
          .catch(function (error) {
            problem.textContent = error.message;
            problem.hidden = false;
          });
      };
      form.querySelector("[data-save-submit]").addEventListener("click", save);
      name.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); save(); }
      });
    }

    var actions = document.querySelector("[data-view-id]");
    var id = actions ? actions.dataset.viewId : "";
    var on = function (selector, fn) {
      var button = document.querySelector(selector);
      if (button) button.addEventListener("click", fn);
    };
    on("[data-start-set]", function () {
      call("PUT", "start-view", { view: id }).then(function () { window.location.reload(); }, complain);
    });
    on("[data-start-clear]", function () {
      call("DELETE", "start-view").then(function () { window.location.reload(); }, complain);
    });
    on("[data-view-rename]", function () {
      var current = document.querySelector("[data-testid=current-view]");
      var renamed = window.prompt("New name of this view", current ? current.textContent : "");
      if (!renamed || !renamed.trim()) return;
      call("PATCH", "views/" + encodeURIComponent(id), { name: renamed.trim() })
        .then(function () { window.location.reload(); }, complain);
    });
    on("[data-view-delete]", function () {
      if (!window.confirm("Delete this view? Everyone it is shared with loses it.")) return;
      call("DELETE", "views/" + encodeURIComponent(id))
        .then(function () { window.location.href = "/connectionlog?q="; }, complain);
    });
  });
})();
