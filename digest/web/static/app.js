// Actions that fail say so. An htmx action answered with an error shows a message above the
// page; when the staff session has ended (it expired, or was signed out in another tab) the
// message offers to sign in again in a new tab, then to carry on with the same action, with a
// fresh form token. A plain form sent too late leads through the sign-in page back to its
// page, where what was typed is put back into it (never sent: that is the person's to do).
(function () {
  "use strict";
  var script = document.currentScript;
  var root = script ? script.src.replace(/\/static\/app\.js(\?.*)?$/, "") : "";
  var SIGNED_IN = root + "/signed-in";
  var KEPT = "digest.kept";
  var KEPT_FOR_MS = 30 * 60 * 1000;  // a sign-in takes minutes at most; older text is stale
  var pending = null;  // the action that failed, to try again

  function notice() {
    var box = document.getElementById("action-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "action-problem";
      box.className = "action-problem";
      box.setAttribute("role", "alert");
      var main = document.getElementById("main") || document.body;
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = "";
    box.hidden = false;
    return box;
  }
  function hideNotice() {
    var box = document.getElementById("action-problem");
    if (box) { box.hidden = true; box.textContent = ""; }
  }
  function add(parent, tag, text, className) {
    var element = document.createElement(tag);
    if (text) { element.textContent = text; }
    if (className) { element.className = className; }
    parent.appendChild(element);
    return element;
  }
  function tryAgainButton(line) {
    var again = add(line, "button", "Try again", "try-again");
    again.type = "button";
    again.addEventListener("click", replay);
    return again;
  }
  function sayEnded(stillOut) {
    var box = notice();
    box.classList.add("session-ended");
    var line = add(box, "p", stillOut
      ? "You are still signed out, so that was not done. "
      : "Your session has ended, so that was not done. ");
    var link = add(line, "a", "Sign in again");
    link.href = root + "/login?next=" + encodeURIComponent(new URL(SIGNED_IN, window.location.href).pathname);
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "sign-in-again";
    add(line, "span", " (in a new tab: this page stays as it is), then ");
    tryAgainButton(line);
  }
  function sayBack() {
    var box = notice();
    var line = add(box, "p", "You are signed in again. ");
    tryAgainButton(line).focus();
  }
  function sayFailed(text) {
    var box = notice();
    var line = add(box, "p", text + " ");
    tryAgainButton(line);
  }
  function messageOf(xhr) {
    // Our error pages say what went wrong in their first paragraph; plain text says it all.
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === 0) {
      var found = new DOMParser().parseFromString(xhr.responseText, "text/html").querySelector("main p");
      return found ? found.textContent.trim() : "";
    }
    return (xhr.responseText || "").trim().slice(0, 300);
  }

  // A fresh form token, from a page only a signed-in person gets: rejected when signed out.
  function freshToken() {
    return fetch(SIGNED_IN, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("signed out"); }
        return response.text();
      })
      .then(function (text) {
        var field = new DOMParser().parseFromString(text, "text/html").querySelector("input[name=csrf_token]");
        if (!field) { throw new Error("signed out"); }
        var token = field.value;
        document.querySelectorAll("input[name=csrf_token]").forEach(function (input) { input.value = token; });
        document.body.setAttribute("hx-headers", JSON.stringify({"X-CSRFToken": token}));
        return token;
      });
  }

  // A form token gone stale (signed out and in again in another tab) is refused with a 400:
  // the action is sent once more, with a fresh token, before anything is said.
  var retried = false;
  function replay() {
    var action = pending;
    freshToken().then(function (token) {
      hideNotice();
      if (!action || !document.body.contains(action.source)) { return; }
      if (Object.prototype.hasOwnProperty.call(action.values, "csrf_token")) { action.values.csrf_token = token; }
      var row = action.source.closest ? action.source.closest("tr.item-row") : null;
      if (row) { row.focus(); }
      pending = null;
      window.htmx.ajax(action.verb.toUpperCase(), action.path, {
        source: action.source, target: action.target, values: action.values
      });
    }, function () { sayEnded(true); });
  }

  document.addEventListener("htmx:responseError", function (event) {
    var detail = event.detail, config = detail.requestConfig || {}, values = {};
    if (config.formData) { config.formData.forEach(function (value, name) { values[name] = value; }); }
    pending = {source: detail.elt, verb: config.verb || "post", path: config.path, target: detail.target, values: values};
    var xhr = detail.xhr;
    if (xhr.status === 401) { retried = false; sayEnded(false); return; }
    if (xhr.status === 400 && !retried) { retried = true; replay(); return; }
    retried = false;
    var why = messageOf(xhr);
    sayFailed("That was not done" + (why ? ": " + why.replace(/\.$/, "") + "." : " (the server answered " + xhr.status + ")."));
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) { return; }
    retried = false;
    // What failed has since worked by itself (a page that refreshes itself): nothing to say.
    if (pending && event.detail.elt === pending.source) { pending = null; hideNotice(); }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var config = event.detail.requestConfig || {}, values = {};
    if (config.formData) { config.formData.forEach(function (value, name) { values[name] = value; }); }
    pending = {source: event.detail.elt, verb: config.verb || "post", path: config.path, target: event.detail.target, values: values};
    sayFailed("Digest could not be reached, so that was not done. Check the connection, then try again.");
  });

  // The tab where the person signed in again tells this one, which then has a fresh token.
  var channel = window.BroadcastChannel ? new window.BroadcastChannel("digest-session") : null;
  if (document.querySelector("[data-signed-in]") && channel) { channel.postMessage("signed-in"); }
  if (channel) {
    channel.addEventListener("message", function (event) {
      var box = document.getElementById("action-problem");
      if (event.data !== "signed-in" || !box || box.hidden) { return; }
      freshToken().then(sayBack, function () { sayEnded(true); });
    });
  }

  // Plain forms. On the sign-in page that answered a form sent too late, remember its fields
  // for the page the sign-in leads back to.
  var login = document.querySelector("form.login-form");
  if (login && login.elements.kept_action) {
    login.addEventListener("submit", function () {
      var fields = [];
      login.querySelectorAll("input[name^='kept:']").forEach(function (input) {
        fields.push([input.name.slice(5), input.value]);
      });
      try {
        sessionStorage.setItem(KEPT, JSON.stringify({
          page: login.elements.next.value, action: login.elements.kept_action.value,
          fields: fields, at: Date.now()
        }));
      } catch (ignored) { /* storage full or refused: the sign-in page showed the text */ }
    });
  }
  function here(address) {
    var url = new URL(address, window.location.href);
    return url.pathname + url.search;
  }
  function restore(form, fields) {
    var byName = {};
    fields.forEach(function (pair) { (byName[pair[0]] = byName[pair[0]] || []).push(pair[1]); });
    var first = null;
    Array.from(form.elements).forEach(function (element) {
      var values = byName[element.name];
      if (!values || /^(hidden|submit|button|file|password|image|reset)$/.test(element.type)) { return; }
      if (element.type === "checkbox" || element.type === "radio") {
        element.checked = values.indexOf(element.value) >= 0;
      } else {
        element.value = values[0];
      }
      first = first || element;
    });
    var note = document.createElement("p");
    note.className = "kept-note";
    note.setAttribute("role", "status");
    note.textContent = "What you typed before your session ended is back in this form. Check it, then save.";
    form.parentNode.insertBefore(note, form);
    if (first) { first.focus(); }
  }
  // Back on that page, signed in: the first page after the sign-in takes the kept fields, or
  // they are dropped.
  var raw = null;
  try { raw = login ? null : sessionStorage.getItem(KEPT); } catch (ignored) { raw = null; }
  if (raw) {
    sessionStorage.removeItem(KEPT);
    var kept = JSON.parse(raw);
    if (Date.now() - kept.at < KEPT_FOR_MS && here(kept.page) === here(window.location.href)) {
      var form = Array.from(document.forms).find(function (candidate) {
        return candidate.method === "post" && here(candidate.action) === here(kept.action);
      });
      if (form) { restore(form, kept.fields); }
    }
  }
})();

// Keyboard triage: j/k move between items, a accepts, r rejects, t tags the current item.
(function () {
  "use strict";
  function rows() { return Array.from(document.querySelectorAll("tr.item-row")); }
  function current() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("tr.item-row") : null;
  }
  function show(row) {
    row.focus();
    row.scrollIntoView({block: "nearest"});
  }
  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var index = all.indexOf(current());
    show(all[Math.min(all.length - 1, Math.max(0, index + step))]);
  }
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  // Accepting or rejecting by key moves on to the next item once the row is done.
  var advancing = null;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var row = current();
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (row && (event.key === "a" || event.key === "r")) {
      advancing = row.id;
      row.querySelector("button[data-key='" + event.key + "']").click();
      event.preventDefault();
    } else if (row && event.key === "t") {
      row.querySelector(".tag-input").focus();
      event.preventDefault();
    }
  });
  // A row is replaced by the server's answer to an action in it: keep the focus on the new
  // row, or move it to the next one after a/r; a problem the row states keeps it there.
  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.target.closest ? event.target.closest("tr.item-row") : null;
    refocus = row && row.contains(document.activeElement) ? row.id : null;
    if (!row || row.id !== advancing) { advancing = null; }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var fresh = refocus && document.getElementById(refocus);
    var advance = advancing && fresh && fresh.id === advancing;
    refocus = null;
    advancing = null;
    if (!fresh) { return; }
    var invalid = fresh.querySelector(".tag-input[aria-invalid='true']");
    var next = fresh.nextElementSibling;
    if (invalid) {
      invalid.focus();
      invalid.select();
    } else if (advance && !fresh.querySelector(".row-problem") && next && next.matches("tr.item-row")) {
      show(next);
    } else {
      fresh.focus();
    }
  });
  document.addEventListener("keydown", function (event) {
    // Escape leaves the tag box and returns to the item.
    if (event.key === "Escape" && event.target.classList && event.target.classList.contains("tag-input")) {
      event.target.closest("tr.item-row").focus();
    }
  });
  // One checkbox selects every item on the page for the bulk actions (or none).
  var all = document.querySelector("input.select-all");
  function picks() { return Array.from(document.querySelectorAll("input[name=placement][form=bulk]")); }
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      picks().forEach(function (box) { box.checked = all.checked; });
    });
    document.addEventListener("change", function (event) {
      if (!event.target.matches || !event.target.matches("input[name=placement][form=bulk]")) { return; }
      var chosen = picks().filter(function (box) { return box.checked; }).length;
      all.checked = chosen > 0 && chosen === picks().length;
      all.indeterminate = chosen > 0 && chosen < picks().length;
    });
  }
  // Back from an item's page: the row it was opened from is the current one again.
  var from = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (from && from.matches("tr.item-row")) { show(from); }
})();

// Edition items: drag one to a new place within its group (a section's topic, as the email
// groups them), with SortableJS. The server stores the place and answers with the group, which
// is swapped in without reloading the page. The Up and Down buttons go through htmx.
(function () {
  "use strict";
  function swapIn(group, html) {
    if (window.htmx) { window.htmx.swap(group, html, {swapStyle: "outerHTML"}); }
    else { window.location.reload(); }
  }
  function moved(list, event) {
    if (event.oldIndex === event.newIndex) { return; }
    var group = list.closest(".edition-group");
    var body = new URLSearchParams({action: "move", item: event.item.dataset.item, position: String(event.newIndex)});
    fetch(list.dataset.moveUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": list.dataset.csrf, "HX-Request": "true"}
    }).then(function (response) {
      // Refused (the edition changed meanwhile): the page shows why, and the order kept.
      if (!response.ok || response.headers.get("HX-Refresh")) { window.location.reload(); return; }
      return response.text().then(function (html) { swapIn(group, html); });
    }).catch(function () { window.location.reload(); });
  }
  function sortable(list) {
    if (list.dataset.sortable || !window.Sortable) { return; }
    list.dataset.sortable = "on";
    window.Sortable.create(list, {
      group: {name: list.id, pull: false, put: false},  // only within its own group
      filter: "button, input, a", preventOnFilter: false,  // buttons still click
      animation: 150, ghostClass: "drop-here",
      onEnd: function (event) { moved(list, event); }
    });
  }
  function start(root) {
    root.querySelectorAll("ol.edition-items[data-move-url]").forEach(sortable);
  }
  // After a move, keep the keyboard where it was: htmx refocuses the same button by its id,
  // but one now disabled (the item reached its group's end) cannot take it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var group = event.target.closest ? event.target.closest(".edition-group") : null;
    var active = document.activeElement;
    // Lost: on the page itself, or still on the replaced button (browsers differ in when they
    // let go of an element taken out of the page), or on one that cannot take it.
    var lost = !active || active === document.body || !active.isConnected || active.disabled;
    // Only after a button's request (htmx's): a mouse drag leaves the focus alone.
    if (!group || !lost || !event.detail || !event.detail.requestConfig) { return; }
    var item = group.querySelector("li[data-moved]");
    var button = item && item.querySelector("button:not([disabled])");
    if (button) { button.focus({preventScroll: true}); }
  });
  document.addEventListener("htmx:load", function (event) { start(event.target); });
  // Deferred scripts run in order and the page loads SortableJS after this one: wait for all.
  document.addEventListener("DOMContentLoaded", function () { start(document); });
})();
