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

// Edition items: drag one to a new place; the server stores the order, then the page reloads.
(function () {
  "use strict";
  var list = document.querySelector("ol.edition-items[data-move-url]");
  if (!list) { return; }
  var dragged = null;
  list.addEventListener("dragstart", function (event) {
    dragged = event.target.closest("li[data-item]");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.item);
    dragged.classList.add("dragging");
  });
  list.addEventListener("dragover", function (event) {
    var over = event.target.closest("li[data-item]");
    if (!dragged || !over || over === dragged) { return; }
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("dragend", function () {
    if (!dragged) { return; }
    dragged.classList.remove("dragging");
    var position = Array.from(list.querySelectorAll("li[data-item]")).indexOf(dragged);
    var body = new URLSearchParams({
      csrf_token: list.dataset.csrf, action: "move", item: dragged.dataset.item, position: String(position)
    });
    dragged = null;
    fetch(list.dataset.moveUrl, {method: "POST", body: body, credentials: "same-origin"})
      .then(function () { window.location.reload(); });
  });
})();
