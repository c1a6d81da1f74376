// Pointing at an implementation in any legend or table row dims the others
// in every chart, so one curve can be followed across the page.
(function () {
  "use strict";
  function focus(name) {
    document.querySelectorAll("svg.chart g.series").forEach(function (g) {
      g.style.opacity = name && g.getAttribute("data-impl") !== name ? "0.15" : "";
    });
  }
  document.querySelectorAll("[data-impl]").forEach(function (el) {
    el.addEventListener("mouseenter", function () { focus(el.getAttribute("data-impl")); });
    el.addEventListener("mouseleave", function () { focus(""); });
  });
})();
