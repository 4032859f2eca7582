(function () {
  "use strict";
  // Clicking a criterion highlights every span it cites and scrolls to the first one.
  // Without script the links still jump to the first span (#anchor, styled by :target).
  function clear() {
    document.querySelectorAll("mark.hl").forEach(function (m) { m.classList.remove("hl"); });
    document.querySelectorAll(".criterion.active").forEach(function (c) { c.classList.remove("active"); });
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-rule-link]");
    if (!link) return;
    var rule = link.getAttribute("data-rule-link");
    var marks = document.querySelectorAll('mark.ev[data-rule~="' + CSS.escape(rule) + '"]');
    clear();
    var item = link.closest(".criterion");
    if (item) item.classList.add("active");
    if (!marks.length) return;
    event.preventDefault();
    marks.forEach(function (m) { m.classList.add("hl"); });
    marks[0].scrollIntoView({ block: "center" });
    if (window.history && history.replaceState) history.replaceState(null, "", "#" + marks[0].id);
  });
})();
