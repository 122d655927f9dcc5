// Mark inline formulas wider than their line, so that wide-content.css lets them
// scroll in their own box (MathJax cannot break an inline formula across lines).
(() => {
  const mark = () => {
    for (const m of document.querySelectorAll('mjx-container:not([display="true"])')) {
      const line = m.parentElement.getBoundingClientRect().width;
      m.classList.toggle("bn-wide-inline", m.scrollWidth > line + 1);
    }
  };
  window.addEventListener("load", () => {
    const typeset = window.MathJax && MathJax.startup && MathJax.startup.promise;
    (typeset || Promise.resolve()).then(mark);
    window.addEventListener("resize", mark);
  });
})();
