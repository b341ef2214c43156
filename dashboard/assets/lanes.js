/* Dashboard layer (browser): a lane of the tasks board scrolls its cards inside a fixed height
 * (assets/tasklens.css, .lane-body), and now says so: its foot fades while more cards lie below, its head while
 * some lie above (classes lane-more-below / lane-more-above). Without it a card cut at the lane's foot ("took
 * 19.8 s · $0.10" half shown) read as a drawing fault, not as more to scroll to.
 *
 * Read on the lane's own scroll, when its box changes size (a ResizeObserver: after layout), and when its cards
 * change (a MutationObserver on the lane alone: the board is redrawn at every push, the grid below it far more
 * often, and only the first should cost a read). Lanes are found as Dash draws them, without reading layout.
 */
(function () {
  "use strict";

  var EDGE = 1; // px: a lane scrolled to within a pixel of its end is at its end
  var lanes = document.getElementsByClassName("lane-body"); // live: kept by the browser
  var seen = new WeakSet();

  function mark(lane) {
    if (!lane.isConnected) return;
    var below = lane.scrollHeight - lane.scrollTop - lane.clientHeight > EDGE;
    lane.classList.toggle("lane-more-below", below);
    lane.classList.toggle("lane-more-above", lane.scrollTop > EDGE);
  }

  var sizes = new ResizeObserver(function (entries) {
    for (var i = 0; i < entries.length; i++) mark(entries[i].target);
  });

  var changed = new Set();
  var cards = new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var node = records[i].target;
      var lane = node.nodeType === 1 ? node.closest(".lane-body") : node.parentElement.closest(".lane-body");
      if (lane) changed.add(lane);
    }
    window.requestAnimationFrame(function () {
      changed.forEach(mark);
      changed.clear();
    });
  });

  function watch(lane) {
    seen.add(lane);
    lane.addEventListener("scroll", function () { mark(lane); }, { passive: true });
    sizes.observe(lane); // its first callback marks it
    cards.observe(lane, { childList: true, subtree: true, characterData: true });
  }

  var queued = false;
  function find() {
    queued = false;
    for (var i = 0; i < lanes.length; i++) if (!seen.has(lanes[i])) watch(lanes[i]);
  }

  new MutationObserver(function () {
    if (queued || !lanes.length) return;
    queued = true;
    window.requestAnimationFrame(find);
  }).observe(document.documentElement, { childList: true, subtree: true });
  find();
})();
