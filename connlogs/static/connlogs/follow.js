// connlogs: the list page's "Follow". It polls /connectionlog/changes (the change feed, scoped
// and searched as the page is) every few seconds and puts new and changed rows into the table
// in the list's order (newest connection first; a change to a row older than the page stays
// off it), rendered by the server as the list's own rows (escaped there). Sessions shown as
// ongoing are asked about by id, so one that ends shows ended even when the search
// (``status:ongoing``) no longer brings it. Polling, not server-sent events: the app's sync
// workers would each be held by an open stream.
// Following pauses while the pointer is on the table or the page is scrolled; the changes
// wait behind an "N new" button. Without JavaScript the page has a "Refresh" link instead.
(function () {
  "use strict";

  var POLL_MS = 3000;
  var RETRY_MS = 10000;
  var HIGHLIGHT_MS = 4000;
  var KEEP_ROWS = 500; // rows beyond this many drop off the bottom of the table
  var SCROLLED_PX = 40;
  var STORAGE_KEY = "connlogs.follow";
  var MAX_OPEN = 100; // sessions asked about a read (following.MAX_OPEN)

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // "2d 3h", "3h 12m", "5m 12s", "42s": connlogs.web.tables.duration_text in JavaScript.
  function durationText(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    if (days) return hours ? days + "d " + hours + "h" : days + "d";
    if (hours) return minutes ? hours + "h " + minutes + "m" : hours + "h";
    if (minutes) return secs ? minutes + "m " + secs + "s" : minutes + "m";
    return secs + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (element) {
      var since = Date.parse(element.dataset.since);
      if (!isNaN(since)) element.textContent = durationText((now - since) / 1000);
    });
  }

  function rowFrom(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html; // the server's rendering of connlogs/_row.html, escaped there
    return holder.content.querySelector("tr");
  }

  // The sessions the table shows as ongoing (or stale), which may end without the search
  // bringing the change (``status:ongoing`` no longer matches a closed session).
  // ``closed``: the ids already answered as ended (held while paused): not asked again.
  function openIds(closed) {
    var ids = [];
    document.querySelectorAll("table.logs tr.log.is-ongoing, table.logs tr.log.is-stale").forEach(function (row) {
      if (ids.length < MAX_OPEN && !closed[row.dataset.id]) ids.push(row.dataset.id);
    });
    return ids;
  }

  function highlight(row, className) {
    row.classList.add(className);
    setTimeout(function () { row.classList.remove(className); }, HIGHLIGHT_MS);
  }

  function Follower(button) {
    this.button = button;
    this.state = document.querySelector("[data-follow-state]");
    this.newButton = document.querySelector("[data-follow-new]");
    this.live = document.querySelector("[data-follow-live]");
    this.card = document.querySelector(".table-card");
    this.url = button.dataset.changesUrl;
    this.params = button.dataset.params;
    this.next = button.dataset.next;
    this.on = false;
    this.hovering = false;
    this.pending = [];
    this.closed = {};
    this.complete = button.dataset.complete === "true";
    this.timer = null;
    this.problem = "";
  }

  Follower.prototype.pausedBecause = function () {
    if (this.hovering) return "pointer on the table";
    if (window.scrollY > SCROLLED_PX) return "scrolled down";
    return "";
  };

  Follower.prototype.show = function () {
    var why = this.pausedBecause();
    var state = !this.on ? "off" : this.problem ? "stopped" : why ? "paused" : "live";
    this.button.setAttribute("aria-pressed", this.on ? "true" : "false");
    this.state.dataset.state = state;
    this.state.textContent = {
      off: "Off",
      stopped: this.problem,
      paused: "Paused: " + why,
      live: "Following · new connections appear at the top",
    }[state];
    var count = this.pending.length;
    this.newButton.hidden = !(this.on && count);
    this.newButton.textContent = count + " new ↑";
  };

  Follower.prototype.toggle = function () {
    this.on = !this.on;
    this.problem = "";
    try { localStorage.setItem(STORAGE_KEY, this.on ? "1" : "0"); } catch (e) { /* private mode */ }
    clearTimeout(this.timer);
    if (this.on) this.poll();
    this.show();
  };

  Follower.prototype.stop = function (problem) {
    this.problem = problem;
    clearTimeout(this.timer);
    this.show();
  };

  Follower.prototype.poll = function () {
    var self = this;
    clearTimeout(this.timer);
    if (!this.on) return;
    if (document.visibilityState !== "visible") {
      this.timer = setTimeout(function () { self.poll(); }, POLL_MS);
      return;
    }
    var address = this.url + "?after=" + encodeURIComponent(this.next) + (this.params ? "&" + this.params : "");
    var open = openIds(this.closed);
    if (open.length) address += "&open=" + open.join(",");
    fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json) return { status: 0, body: {} }; // signed out: the sign-in page answered
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        if (answer.status === 410) { window.location.reload(); return; } // behind retention
        if (answer.status === 0) { self.stop("Stopped: sign in again and reload"); return; }
        if (answer.status !== 200) { self.stop("Stopped: " + (answer.body.message || answer.status)); return; }
        if (!self.on) return;
        self.next = answer.body.next;
        answer.body.rows.forEach(function (change) {
          if (change.action === "closed") self.closed[change.id] = true;
        });
        self.pending = self.pending.concat(answer.body.rows);
        if (!self.pausedBecause()) self.apply();
        self.show();
        self.timer = setTimeout(function () { self.poll(); }, POLL_MS);
      })
      .catch(function () {
        self.state.textContent = "Reconnecting…";
        self.timer = setTimeout(function () { self.poll(); }, RETRY_MS);
      });
  };

  // A table row's connect time (ms), read from its time cell as the server wrote it.
  function timeOf(row) {
    var element = row.querySelector(".c-time time");
    return element ? Date.parse(element.getAttribute("datetime")) : NaN;
  }

  // A new day group for ``change``'s day, its header as wide as the table's own.
  function dayGroup(table, change) {
    var group = document.createElement("tbody");
    group.dataset.day = change.day;
    var header = document.createElement("tr");
    header.className = "day";
    var cell = document.createElement("th");
    var existing = table.querySelector("tr.day th");
    var columns = table.querySelector("thead tr");
    cell.colSpan = existing ? existing.colSpan : columns ? columns.children.length : 9;
    cell.scope = "colgroup";
    cell.textContent = change.day_label;
    header.appendChild(cell);
    group.appendChild(header);
    return group;
  }

  // Put ``row`` (a change not on the page) where the list's order, newest connection first,
  // puts it: before the first row that connected no later, in its day's group. False when
  // it connected before every row shown: it belongs on a later page, unless the page holds
  // the whole search (``complete``), where it goes last.
  function place(table, row, change, complete) {
    var time = timeOf(row);
    var rows = table.querySelectorAll("tr.log");
    var older = null;
    for (var i = 0; i < rows.length; i++) {
      if (timeOf(rows[i]) <= time) { older = rows[i]; break; }
    }
    if (!older && rows.length && !complete) return false;
    var group = older ? older.parentNode : null;
    if (group && group.dataset.day === change.day) {
      group.insertBefore(row, older);
      return true;
    }
    var groups = table.querySelectorAll("tbody");
    var prior = group ? group.previousElementSibling : groups[groups.length - 1];
    if (prior && prior.tagName === "TBODY" && prior.dataset.day === change.day) {
      prior.appendChild(row);
      return true;
    }
    var made = dayGroup(table, change);
    made.appendChild(row);
    table.insertBefore(made, group);
    return true;
  }

  Follower.prototype.apply = function () {
    var table = document.querySelector("table.logs");
    if (!this.pending.length) return;
    if (!table) { window.location.reload(); return; } // the empty page has no table yet
    var added = 0;
    var changed = 0;
    var ended = 0;
    var self = this;
    var latest = {};
    this.pending.forEach(function (change) { latest[change.id] = change; });
    this.pending.forEach(function (change) {
      if (latest[change.id] !== change) return; // a later answer about the same row follows
      var row = rowFrom(change.html);
      if (!row) return;
      var old = table.querySelector('tr.log[data-id="' + CSS.escape(change.id) + '"]');
      if (change.action === "closed") {
        // A session shown as ongoing has ended, and the search no longer brings it.
        if (!old) return;
        if (change.left) {
          row.classList.add("is-left");
          row.title = "Ended: this connection no longer matches the search";
        }
        old.replaceWith(row);
        highlight(row, "is-changed");
        ended += 1;
        return;
      }
      if (old) {
        old.replaceWith(row); // a session that closed, or a change already on the page
        highlight(row, "is-changed");
        changed += 1;
        return;
      }
      if (!place(table, row, change, self.complete)) return; // a later page's row
      highlight(row, "is-new");
      if (change.action === "created") added += 1;
      else changed += 1;
    });
    this.pending = [];
    var rows = table.querySelectorAll("tr.log");
    for (var i = KEEP_ROWS; i < rows.length; i++) rows[i].remove();
    table.querySelectorAll("tbody").forEach(function (group) {
      if (!group.querySelector("tr.log")) group.remove();
    });
    var words = [];
    if (added) words.push(added + (added === 1 ? " new connection" : " new connections"));
    if (changed) words.push(changed + " changed");
    if (ended) words.push(ended + " ended");
    if (words.length) this.live.textContent = words.join(", ");
    tick();
  };

  ready(function () {
    setInterval(tick, 1000);
    var button = document.querySelector("[data-follow]");
    if (!button || button.disabled) return;
    var follower = new Follower(button);
    button.addEventListener("click", function () { follower.toggle(); });
    if (follower.card) {
      follower.card.addEventListener("mouseenter", function () { follower.hovering = true; follower.show(); });
      follower.card.addEventListener("mouseleave", function () {
        follower.hovering = false;
        if (!follower.pausedBecause()) follower.apply();
        follower.show();
      });
    }
    window.addEventListener("scroll", function () {
      if (!follower.pausedBecause()) follower.apply();
      follower.show();
    }, { passive: true });
    follower.newButton.addEventListener("click", function () {
      window.scrollTo(0, 0);
      follower.apply();
      follower.show();
    });
    var remembered = false;
    try { remembered = localStorage.getItem(STORAGE_KEY) === "1"; } catch (e) { /* private mode */ }
    if (remembered) follower.toggle();
  });
})();
