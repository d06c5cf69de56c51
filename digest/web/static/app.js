// Keyboard triage: j/k move between items, a accepts, r rejects, t tags the current item.
(function () {
  "use strict";
  function rows() { return Array.from(document.querySelectorAll("tr.item-row")); }
  function current() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("tr.item-row") : null;
  }
  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var index = all.indexOf(current());
    var next = all[Math.min(all.length - 1, Math.max(0, index + step))];
    next.focus();
    next.scrollIntoView({block: "nearest"});
  }
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var row = current();
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (row && (event.key === "a" || event.key === "r")) {
      row.querySelector("button[data-key='" + event.key + "']").click();
      event.preventDefault();
    } else if (row && event.key === "t") {
      row.querySelector(".tag-input").focus();
      event.preventDefault();
    }
  });
  // A row is replaced by the server's answer to an action in it: keep the focus on the new row.
  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.target.closest ? event.target.closest("tr.item-row") : null;
    refocus = row && row.contains(document.activeElement) ? row.id : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var fresh = refocus && document.getElementById(refocus);
    if (fresh) { fresh.focus(); }
    refocus = null;
  });
  document.addEventListener("keydown", function (event) {
    // Escape leaves the tag box and returns to the item.
    if (event.key === "Escape" && event.target.classList && event.target.classList.contains("tag-input")) {
      event.target.closest("tr.item-row").focus();
    }
  });
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
