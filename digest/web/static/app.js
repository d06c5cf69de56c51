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
