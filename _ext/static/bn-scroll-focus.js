// A part of a page that scrolls (a wide table, code, output or equation on a
// phone) must be reachable from the keyboard: such a region gets a tab stop
// (tabindex 0), and loses it when it no longer scrolls (WCAG 2.1.1; axe-core's
// rule scrollable-region-focusable). Added by _ext/accessibility.py.
(function () {
  "use strict";
  function scrolls(el) {
    const style = getComputedStyle(el);
    const x = /(auto|scroll)/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
    const y = /(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1;
    return x || y;
  }
  function update() {
    document.querySelectorAll("article *").forEach(function (el) {
      if (scrolls(el)) {
        if (!el.hasAttribute("tabindex")) {
          el.setAttribute("tabindex", "0");
          el.dataset.bnScrollFocus = "";
        }
      } else if ("bnScrollFocus" in el.dataset) {
        el.removeAttribute("tabindex");
        delete el.dataset.bnScrollFocus;
      }
    });
  }
  let timer = null;
  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 200);
  }
  window.addEventListener("load", function () {
    update();
    // Equations are typeset after load: look again when MathJax is done.
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(update);
    }
  });
  window.addEventListener("resize", later);
})();
