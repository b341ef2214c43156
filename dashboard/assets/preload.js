/* Dashboard layer (browser): a page opened on a chart starts fetching plotly.js with its own scripts
 * (dashboard/bundles.py). Dash's Graph asks for it only after the app has rendered; a preloaded response is
 * what its <script> then gets, so the 1.4 MB download no longer follows the render.
 */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="tasklens-plotly"]');
  if (!meta || window.Plotly) return;
  if (!new RegExp(meta.getAttribute("data-paths")).test(window.location.pathname)) return;
  var link = document.createElement("link");
  link.rel = "preload";
  link.as = "script";
  link.href = meta.getAttribute("content");
  document.head.appendChild(link);
})();
