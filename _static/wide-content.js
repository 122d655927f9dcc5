// Mark the inline formulas wider than their line, so that wide-content.css lets
// only those scroll in their own box (MathJax cannot break an inline formula
// across lines). Every other formula stays plain inline math.
//
// Both widths are measured as laid out, never with scrollWidth (MathJax's inline
// containers report a scrollWidth a few pixels wider than their box): the
// formula's own rendered box against the content width of the block that holds
// its line (a paragraph, a list item, a table cell), not against its wrapper
// span.math, which is only as wide as the formula itself.
(() => {
  const SELECTOR = 'mjx-container:not([display="true"])';
  const lineWidth = (m) => {
    let b = m.parentElement;
    while (b && b !== document.body && /^(inline|contents)/.test(getComputedStyle(b).display))
      b = b.parentElement;
    if (!b) return Infinity;
    const cs = getComputedStyle(b);
    return b.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  };
  const mark = () => {
    const maths = [...document.querySelectorAll(SELECTOR)];
    // measure every formula at its natural width (unmarked), then mark: one layout
    for (const m of maths) m.classList.remove("bn-wide-inline");
    const wide = maths.map((m) => m.getBoundingClientRect().width > lineWidth(m) + 1);
    maths.forEach((m, i) => m.classList.toggle("bn-wide-inline", wide[i]));
    document.documentElement.dataset.bnWideContent = "done";
  };
  window.addEventListener("load", () => {
    const typeset = window.MathJax && MathJax.startup && MathJax.startup.promise;
    (typeset || Promise.resolve()).then(mark);
    window.addEventListener("resize", mark);
  });
})();
