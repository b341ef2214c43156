/* Dashboard layer (browser): what the components cannot say for themselves, added as they are drawn (a
 * MutationObserver, since Dash redraws at every push): the page's language; a progress bar's name (dbc.Progress
 * takes no aria-label); and Dash 4's dropdowns, whose hidden focus input (aria-hidden, yet tabbable) would be
 * a stop for the keyboard that screen readers cannot see — the dropdown's own button stays the tab stop; and a
 * table wider than its box (.table-responsive scrolling sideways), which keyboard users must be able to focus
 * to scroll (re-checked when the box or its table changes size).
 */
(function () {
  "use strict";

  document.documentElement.lang = document.documentElement.lang || "en";

  // Whether a box scrolls sideways is read when its size or its table's changes (a ResizeObserver: called
  // after layout, so reading scrollWidth there lays nothing out again), not at every redraw: read from the
  // mutation callback it forced a layout in each frame while a page was drawn (a cold overview: ~15 ms).
  function scrolls(box) {
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

  var sizes = new ResizeObserver(function (entries) {
    for (var i = 0; i < entries.length; i++) {
      var target = entries[i].target;
      var box = target.classList.contains("table-responsive") ? target : target.parentElement;
      if (box && box.isConnected) scrolls(box);
    }
  });
  var watched = new WeakMap(); // a box -> the child (its table) observed with it

  function watch(box) {
    var child = box.firstElementChild;
    if (!watched.has(box)) sizes.observe(box);
    else if (watched.get(box) === child) return;
    else if (watched.get(box)) sizes.unobserve(watched.get(box)); // React drew a new table in the box
    watched.set(box, child);
    if (child) sizes.observe(child);
  }

  function fix(root) {
    var bars = root.querySelectorAll('[role="progressbar"]:not([aria-label]):not([aria-labelledby])');
    for (var i = 0; i < bars.length; i++) {
      var now = bars[i].getAttribute("aria-valuenow");
      bars[i].setAttribute("aria-label", now !== null ? "progress " + Math.round(Number(now)) + "%" : "progress");
    }
    var hidden = root.querySelectorAll('.dash-dropdown-focus-target[aria-hidden="true"]:not([tabindex="-1"])');
    for (var j = 0; j < hidden.length; j++) hidden[j].setAttribute("tabindex", "-1");
    var boxes = root.querySelectorAll(".table-responsive");
    for (var k = 0; k < boxes.length; k++) watch(boxes[k]);
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
  soon();
})();
