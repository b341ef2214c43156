/* Dashboard layer (browser): what the components cannot say for themselves, added as they are drawn (a
 * MutationObserver, since Dash redraws at every push): the page's language; a progress bar's name (dbc.Progress
 * takes no aria-label); and Dash 4's dropdowns, whose hidden focus input (aria-hidden, yet tabbable) would be
 * a stop for the keyboard that screen readers cannot see — the dropdown's own button stays the tab stop; and a
 * table wider than its box (.table-responsive scrolling sideways), which keyboard users must be able to focus
 * to scroll (re-checked when the window is resized).
 */
(function () {
  "use strict";

  document.documentElement.lang = document.documentElement.lang || "en";

  function fix(root) {
    var bars = root.querySelectorAll('[role="progressbar"]:not([aria-label]):not([aria-labelledby])');
    for (var i = 0; i < bars.length; i++) {
      var now = bars[i].getAttribute("aria-valuenow");
      bars[i].setAttribute("aria-label", now !== null ? "progress " + Math.round(Number(now)) + "%" : "progress");
    }
    var hidden = root.querySelectorAll('.dash-dropdown-focus-target[aria-hidden="true"]:not([tabindex="-1"])');
    for (var j = 0; j < hidden.length; j++) hidden[j].setAttribute("tabindex", "-1");
    var boxes = root.querySelectorAll(".table-responsive");
    for (var k = 0; k < boxes.length; k++) {
      var box = boxes[k];
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) {
          box.setAttribute("tabindex", "0");
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "table, scrolls sideways");
          box.setAttribute("data-a11y-scroll", "1");
        }
      } else if (box.getAttribute("data-a11y-scroll") === "1") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        box.removeAttribute("data-a11y-scroll");
      }
    }
  }

  var queued = false;
  function soon() {
    if (queued) return;
    queued = true;
    window.requestAnimationFrame(function () {
      queued = false;
      fix(document);
    });
  }

  new MutationObserver(soon).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("resize", soon);
  soon();
})();
